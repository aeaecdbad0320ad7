// pod-watch.ts against a local HTTP server that streams watch events the way
// kube-apiserver does (one JSON object per line).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { loadKubeContext, podLeavingWatcher } from '../../client/index.ts';
import type { Clock } from '../../client/index.ts';
import { pod } from './helpers/fake-reader.ts';
import { writeKubeconfig } from './helpers/kubeconfig.ts';

/** A server that hands each watch request to `onWatch`, in order. */
async function watchServer(t: ExecutionContext, onWatch: Array<(res: http.ServerResponse) => void>) {
  const urls: string[] = [];
  const open = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    urls.push(req.url ?? '');
    open.add(res);
    res.on('close', () => open.delete(res));
    const handler = onWatch.shift();
    if (handler === undefined) res.writeHead(200, { 'content-type': 'application/json' }); // then silence
    else handler(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const res of open) res.destroy();
    server.close();
  });
  const { port } = server.address() as AddressInfo;
  const context = loadKubeContext({ kubeconfig: writeKubeconfig({ server: `http://127.0.0.1:${port}` }) });
  return { urls, context, open };
}

/** Sleeps take no time (the pause before a watch is opened again). */
const instant: Clock = {
  now: () => 0,
  sleep: async (_ms, signal) => {
    if (signal?.aborted) throw signal.reason;
  },
};

function event(type: string, terminating: boolean): string {
  return `${JSON.stringify({ type, object: pod('web-1', { terminating }) })}\n`;
}

/** Whether `promise` settles within `ms`. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  return Promise.race([promise.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms))]);
}

test('a running pod is not leaving; the same pod marked for deletion is, even split across chunks', async (t) => {
  let stream: http.ServerResponse | undefined;
  const { urls, context } = await watchServer(t, [
    (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(event('ADDED', false));
      stream = res;
    },
  ]);
  const leaving = podLeavingWatcher({ context, userAgent: 'test', clock: instant })({ namespace: 'ns', name: 'web-1' }, new AbortController().signal);
  t.false(await settlesWithin(leaving, 200));
  t.is(urls[0], '/api/v1/namespaces/ns/pods?watch=1&fieldSelector=metadata.name%3Dweb-1');
  const modified = event('MODIFIED', true);
  stream!.write(modified.slice(0, 20));
  stream!.write(modified.slice(20));
  t.true(await settlesWithin(leaving, 2_000));
});

test('a watch the server ends is opened again; a DELETED event is leaving', async (t) => {
  const { urls, context } = await watchServer(t, [
    (res) => res.writeHead(200).end(event('ADDED', false)),
    (res) => res.writeHead(200).end(event('DELETED', false)),
  ]);
  const leaving = podLeavingWatcher({ context, userAgent: 'test', clock: instant })({ namespace: 'ns', name: 'web-1' }, new AbortController().signal);
  t.true(await settlesWithin(leaving, 2_000));
  t.is(urls.length, 2);
});

test('a refused watch (403) is given up: never leaving, no second request', async (t) => {
  const { urls, context } = await watchServer(t, [(res) => res.writeHead(403).end('{"kind":"Status","code":403}')]);
  const debug: string[] = [];
  const leaving = podLeavingWatcher({ context, userAgent: 'test', clock: instant, debug: (l) => debug.push(l) })({ namespace: 'ns', name: 'web-1' }, new AbortController().signal);
  t.false(await settlesWithin(leaving, 300));
  t.is(urls.length, 1);
  t.is(debug.length, 1);
});

test('aborting the signal ends the watch request and leaves the promise pending', async (t) => {
  const { context, open } = await watchServer(t, []);
  const controller = new AbortController();
  const leaving = podLeavingWatcher({ context, userAgent: 'test', clock: instant })({ namespace: 'ns', name: 'web-1' }, controller.signal);
  while (open.size === 0) await new Promise((resolve) => setTimeout(resolve, 10));
  controller.abort();
  while (open.size > 0) await new Promise((resolve) => setTimeout(resolve, 10));
  t.false(await settlesWithin(leaving, 200));
});

test('an event line past 4 MiB is not buffered for ever: the watch is cut and opened again', async (t) => {
  let cut = false;
  const { urls, context } = await watchServer(t, [
    (res) => {
      res.writeHead(200);
      res.on('close', () => (cut = true));
      const chunk = 'x'.repeat(64 * 1024);
      const pump = () => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', pump);
      };
      pump();
    },
    (res) => res.writeHead(200).end(event('DELETED', false)),
  ]);
  const leaving = podLeavingWatcher({ context, userAgent: 'test', clock: instant })({ namespace: 'ns', name: 'web-1' }, new AbortController().signal);
  t.true(await settlesWithin(leaving, 5_000));
  t.true(cut);
  t.is(urls.length, 2);
});
