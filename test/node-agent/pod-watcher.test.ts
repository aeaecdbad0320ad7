import test from 'ava';
import type { PodProcess } from '../../node-agent/netns-resolver.ts';
import { PodWatcher, type WatcherTimers } from '../../node-agent/pod-watcher.ts';

/** Timers the test fires by hand: at most one is pending at a time here. */
function manualTimers(): WatcherTimers & { pending: number; fire(): Promise<void>; delays: number[] } {
  let callback: (() => void) | undefined;
  const delays: number[] = [];
  return {
    delays,
    get pending() {
      return callback === undefined ? 0 : 1;
    },
    setTimeout(fn, ms) {
      callback = fn;
      delays.push(ms);
      return 1;
    },
    clearTimeout() {
      callback = undefined;
    },
    async fire() {
      const fn = callback;
      callback = undefined;
      fn?.();
      await new Promise((r) => setImmediate(r));
    },
  };
}

const SANDBOX: PodProcess = { pid: 42, startTime: '1000' };

test('checks every interval while the pod runs, and calls onGone once when the probe says it is gone', async (t) => {
  const timers = manualTimers();
  const answers: Array<PodProcess | undefined> = [SANDBOX, SANDBOX, undefined];
  const asked: PodProcess[] = [];
  let gone = 0;
  new PodWatcher({ probe: async (last) => (asked.push(last), answers.shift()), process: SANDBOX, intervalMs: 2000, timers, onGone: () => gone++ });
  await timers.fire();
  await timers.fire();
  t.is(gone, 0);
  await timers.fire();
  t.is(gone, 1);
  t.is(timers.pending, 0, 'no check after the pod is gone');
  t.deepEqual(timers.delays, [2000, 2000, 2000]);
  t.is(asked.length, 3);
});

test('a replacement process found by the probe is the one checked next (a restarted container is not a gone pod)', async (t) => {
  const timers = manualTimers();
  const replacement: PodProcess = { pid: 77, startTime: '2000' };
  const asked: PodProcess[] = [];
  new PodWatcher({ probe: async (last) => (asked.push(last), replacement), process: SANDBOX, timers, onGone: () => t.fail() });
  await timers.fire();
  await timers.fire();
  t.deepEqual(asked, [SANDBOX, replacement]);
});

test('a probe that throws counts as still running and is reported', async (t) => {
  const timers = manualTimers();
  const errors: unknown[] = [];
  let gone = 0;
  new PodWatcher({ probe: async () => { throw new Error('EACCES'); }, process: SANDBOX, timers, onGone: () => gone++, onError: (e) => errors.push(e) });
  await timers.fire();
  t.is(gone, 0);
  t.is(errors.length, 1);
  t.is(timers.pending, 1, 'it keeps checking');
});

test('stop() ends the checks, even with one in flight', async (t) => {
  const timers = manualTimers();
  let release: (value: PodProcess | undefined) => void = () => {};
  let gone = 0;
  const watcher = new PodWatcher({ probe: () => new Promise((resolve) => (release = resolve)), process: SANDBOX, timers, onGone: () => gone++ });
  await timers.fire();
  watcher.stop();
  release(undefined);
  await new Promise((r) => setImmediate(r));
  t.is(gone, 0);
  t.is(timers.pending, 0);
});

test('interval 0 never checks', (t) => {
  const timers = manualTimers();
  new PodWatcher({ probe: async () => undefined, process: SANDBOX, intervalMs: 0, timers, onGone: () => t.fail() });
  t.is(timers.pending, 0);
});
