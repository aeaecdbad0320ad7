// Profiles a running Node.js process through its inspector, from inside the
// process's network namespace (the inspector listens on 127.0.0.1:9229 there
// once the process got SIGUSR1). Run by test/bench/profile.ts as
//
//   nsenter -t PID -n -- node inspect-profile.mjs OUT.cpuprofile
//
// It starts the CPU profiler and a counter of the process's garbage
// collections, prints `started`, waits for a line on stdin, then stops both,
// writes the profile to OUT and prints one JSON line with the GC counts, and
// closes the inspector again. Plain Node.js: the global WebSocket and fetch.
import { writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

const out = process.argv[2];
if (out === undefined) throw new Error('usage: inspect-profile.mjs OUT.cpuprofile');

async function targetUrl() {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const list = await (await fetch('http://127.0.0.1:9229/json/list')).json();
      if (list[0]?.webSocketDebuggerUrl) return list[0].webSocketDebuggerUrl;
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

const socket = new WebSocket(await targetUrl());
await new Promise((resolve, reject) => {
  socket.onopen = resolve;
  socket.onerror = () => reject(new Error('inspector WebSocket failed'));
});
let nextId = 1;
const pending = new Map();
socket.onmessage = (event) => {
  const message = JSON.parse(String(event.data));
  const call = pending.get(message.id);
  if (call === undefined) return;
  pending.delete(message.id);
  if (message.error) call.reject(new Error(`${call.method}: ${message.error.message}`));
  else call.resolve(message.result);
};
const send = (method, params = {}) =>
  new Promise((resolve, reject) => {
    const id = nextId++;
    pending.set(id, { resolve, reject, method });
    socket.send(JSON.stringify({ id, method, params }));
  });
const evaluate = async (expression) => (await send('Runtime.evaluate', { expression, returnByValue: true })).result.value;

// GC kinds and flags as perf_hooks reports them, kept in the target process.
await evaluate(`(() => {
  const { PerformanceObserver, constants } = process.getBuiltinModule('node:perf_hooks');
  const kinds = { [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor', [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
    [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental', [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb' };
  const gc = { minor: 0, major: 0, incremental: 0, weakcb: 0, pauseMs: 0, flags: {} };
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = kinds[entry.detail?.kind];
      if (kind !== undefined) gc[kind]++;
      const flags = entry.detail?.flags;
      if (flags !== undefined) gc.flags[flags] = (gc.flags[flags] ?? 0) + 1;
      gc.pauseMs += entry.duration;
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  globalThis.__benchGc = { gc, observer };
  return true;
})()`);
await send('Profiler.enable');
await send('Profiler.setSamplingInterval', { interval: 200 });
await send('Profiler.start');
process.stdout.write('started\n');

for await (const _ of createInterface({ input: process.stdin })) break;

const { profile } = await send('Profiler.stop');
writeFileSync(out, JSON.stringify(profile));
const gc = await evaluate(`(() => { const s = globalThis.__benchGc; s.observer.disconnect(); delete globalThis.__benchGc; return { ...s.gc, pauseMs: Math.round(s.gc.pauseMs) }; })()`);
process.stdout.write(`${JSON.stringify(gc)}\n`);
// The process goes on serving without an open inspector port (closed once this session is gone).
await evaluate(`setTimeout(() => process.getBuiltinModule('node:inspector').close(), 500), true`).catch(() => {});
process.exit(0);
