import test from 'ava';
import { bindListeners, describeDialError, formatHostPort } from '../../client/index.ts';

test('listeners bind to specs by requested port, one binding per address', (t) => {
  const { bound, unmatched } = bindListeners(
    [
      { address: '127.0.0.1', port: 8080, requestedPort: 8080 },
      { address: '::1', port: 8080, requestedPort: 8080 },
    ],
    [{ remote: 8080, local: 3000 }],
  );
  t.deepEqual(bound, [
    { address: '127.0.0.1', remotePort: 8080, localPort: 3000 },
    { address: '::1', remotePort: 8080, localPort: 3000 },
  ]);
  t.deepEqual(unmatched, []);
});

test('0:LOCAL specs take the picked ports in order, one picked port per spec on every address', (t) => {
  const { bound } = bindListeners(
    [
      { address: '127.0.0.1', port: 41000, requestedPort: 0 },
      { address: '::1', port: 41000, requestedPort: 0 },
      { address: '127.0.0.1', port: 9090, requestedPort: 9090 },
      { address: '127.0.0.1', port: 41007, requestedPort: 0 },
      { address: '::1', port: 41007, requestedPort: 0 },
    ],
    [
      { remote: 0, local: 3000 },
      { remote: 9090, local: 9090 },
      { remote: 0, local: 4000 },
    ],
  );
  t.deepEqual(
    bound.map((b) => `${formatHostPort(b.address, b.remotePort)}->${b.localPort}`),
    ['127.0.0.1:41000->3000', '[::1]:41000->3000', '127.0.0.1:9090->9090', '127.0.0.1:41007->4000', '[::1]:41007->4000'],
  );
});

test('a listener no spec asked for is reported as unmatched', (t) => {
  const { bound, unmatched } = bindListeners([{ address: '127.0.0.1', port: 7777, requestedPort: 7777 }], [{ remote: 8080, local: 3000 }]);
  t.deepEqual(bound, []);
  t.deepEqual(unmatched, [{ address: '127.0.0.1', port: 7777, requestedPort: 7777 }]);
});

function errno(code: string, errnoValue: number, extra: Record<string, unknown>): Error {
  return Object.assign(new Error(`${code}`), { code, errno: errnoValue, ...extra });
}

// describeDialError words the forwarder's stderr line (`an error occurred forwarding 8080 -> 3000: dial tcp ...`),
// kubectl port-forward's own: a user contract, so the text is asserted.
test('a refused dial is worded as Go and kubectl word it', (t) => {
  const error = errno('ECONNREFUSED', -111, { syscall: 'connect', address: '127.0.0.1', port: 3000 });
  t.is(describeDialError(error, 'localhost', 3000), 'dial tcp 127.0.0.1:3000: connect: connection refused');
});

test('a happy-eyeballs failure is worded after its first attempt, IPv6 in brackets', (t) => {
  const aggregate = Object.assign(new AggregateError([
    errno('ECONNREFUSED', -111, { syscall: 'connect', address: '::1', port: 3000 }),
    errno('ECONNREFUSED', -111, { syscall: 'connect', address: '127.0.0.1', port: 3000 }),
  ]), { code: 'ECONNREFUSED' });
  t.is(describeDialError(aggregate, 'localhost', 3000), 'dial tcp [::1]:3000: connect: connection refused');
});

test('a failed name lookup is worded as Go words it', (t) => {
  const error = errno('ENOTFOUND', -3008, { syscall: 'getaddrinfo', hostname: 'nosuchhost' });
  t.is(describeDialError(error, 'nosuchhost', 3000), 'dial tcp: lookup nosuchhost: no such host');
});
