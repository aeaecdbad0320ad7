// The transport gate: what was handed to the WebSocket and not yet confirmed
// written, the control bytes among it, and who waits for it.

import test from 'ava';
import { TransportGate } from '../../protocol/transport-gate.ts';

function gate(sendUsesDone = true) {
  const confirmations: Array<() => void> = [];
  const g = new TransportGate({
    send: (_message, done) => confirmations.push(() => done()),
    sendUsesDone,
    highWaterMark: 1024,
    pendingBytes: () => 0,
    onError: () => {},
  });
  return { g, confirmNext: () => confirmations.shift()?.() };
}

test('control bytes count from transmit until the WebSocket confirms their message', (t) => {
  const { g, confirmNext } = gate();
  g.transmit(Buffer.alloc(100), 30);
  g.transmit(Buffer.alloc(50), 0);
  g.transmit(Buffer.alloc(20), 20);
  t.is(g.outstandingControlBytes, 50);
  confirmNext();
  t.is(g.outstandingControlBytes, 20);
  confirmNext();
  confirmNext();
  t.is(g.outstandingControlBytes, 0);
});

test('afterWritten runs once every message transmitted before it was confirmed, and at once when none is outstanding', (t) => {
  const { g, confirmNext } = gate();
  const order: string[] = [];
  g.afterWritten(() => order.push('nothing outstanding'));
  g.transmit(Buffer.alloc(1));
  g.transmit(Buffer.alloc(1));
  g.afterWritten(() => order.push('after two'));
  g.transmit(Buffer.alloc(1));
  confirmNext();
  t.deepEqual(order, ['nothing outstanding']);
  confirmNext();
  t.deepEqual(order, ['nothing outstanding', 'after two'], 'the third message does not hold it up');
  g.afterWritten(() => order.push('after three'));
  g.close();
  confirmNext();
  t.deepEqual(order, ['nothing outstanding', 'after two'], 'nothing runs after close()');
});

test('without done callbacks every message counts as written once handed over', (t) => {
  const { g } = gate(false);
  g.transmit(Buffer.alloc(100), 100);
  t.is(g.outstandingControlBytes, 0);
  t.true(g.open);
  let ran = false;
  g.afterWritten(() => {
    ran = true;
  });
  t.true(ran);
});
