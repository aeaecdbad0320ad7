// Notices that the pod a workload target runs in is leaving, before it is
// gone: a watch on that one pod (GET .../pods?watch=1&fieldSelector=
// metadata.name=POD) reports it terminating (deletionTimestamp set) or
// deleted. A rollout deletes the old pod once its replacement is Ready, and
// the old pod may take its whole grace period (30 s by default) to stop; the
// forward moves to the new pod at once instead of waiting for the agent's
// POD_GONE. One long request per session, not a poll; a watch that fails is
// opened again after a pause, and one that is refused (403, 404) is given up:
// the agent's POD_GONE still moves the forward, only later.

import type { IncomingMessage } from 'node:http';
import type { Clock } from './clock.ts';
import { apiUrl, requestOptions } from './kube.ts';
import type { KubeContext } from './kube.ts';
import { http, https } from './node-http.ts';
import type { PodObject, ResolvedPod } from './pod-resolver.ts';

/** Largest watch event line read; a pod object is far smaller. */
const MAX_EVENT_BYTES = 4 * 1024 * 1024;

/** Pause before a failed watch is opened again. */
const REWATCH_DELAY_MS = 5_000;

/** Resolves once the pod is terminating or deleted; never rejects (aborting `signal` leaves it pending). */
export type PodLeaving = (pod: ResolvedPod, signal: AbortSignal) => Promise<void>;

interface WatchEvent {
  type?: string;
  object?: PodObject;
}

/** What one watch request ended with. */
type WatchOutcome = 'leaving' | 'refused' | 'ended';

function isLeaving(event: WatchEvent): boolean {
  return event.type === 'DELETED' || Boolean(event.object?.metadata?.deletionTimestamp);
}

/** Opens one watch and reads its events until the pod leaves, the server ends it, or it fails. */
async function watchOnce(context: KubeContext, pod: ResolvedPod, userAgent: string, signal: AbortSignal): Promise<WatchOutcome> {
  const query = new URLSearchParams({ watch: '1', fieldSelector: `metadata.name=${pod.name}` });
  const url = apiUrl(context.server, `/api/v1/namespaces/${encodeURIComponent(pod.namespace)}/pods`, query);
  let options;
  try {
    options = await requestOptions(context.credentials, { method: 'GET', headers: { Accept: 'application/json', 'User-Agent': userAgent }, signal });
  } catch {
    return 'ended';
  }
  return new Promise<WatchOutcome>((resolve) => {
    const request = (url.protocol === 'http:' ? http : https).request(url, options, (response: IncomingMessage) => {
      const status = response.statusCode ?? 0;
      if (status === 403 || status === 404 || status === 401) {
        response.resume();
        resolve('refused');
        return;
      }
      if (status !== 200) {
        response.resume();
        resolve('ended');
        return;
      }
      let buffered = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        buffered += chunk;
        let newline: number;
        while ((newline = buffered.indexOf('\n')) !== -1) {
          const line = buffered.slice(0, newline);
          buffered = buffered.slice(newline + 1);
          try {
            if (line.trim() !== '' && isLeaving(JSON.parse(line) as WatchEvent)) {
              request.destroy();
              resolve('leaving');
              return;
            }
          } catch {
            // not an event: ignore the line
          }
        }
        if (buffered.length > MAX_EVENT_BYTES) request.destroy();
      });
      response.on('end', () => resolve('ended'));
      response.on('error', () => resolve('ended'));
      response.on('aborted', () => resolve('ended'));
    });
    request.on('error', () => resolve('ended'));
    request.end();
  });
}

/** Options of {@link podLeavingWatcher}. */
export interface PodWatchOptions {
  context: KubeContext;
  userAgent: string;
  clock: Clock;
  /** Detail for -v: why watching stopped. */
  debug?: (line: string) => void;
}

/** A {@link PodLeaving} over the cluster's watch API. */
export function podLeavingWatcher(options: PodWatchOptions): PodLeaving {
  return async (pod, signal) => {
    for (;;) {
      if (signal.aborted) return new Promise<void>(() => {});
      const outcome = await watchOnce(options.context, pod, options.userAgent, signal);
      if (outcome === 'leaving' && !signal.aborted) return;
      if (outcome === 'refused') {
        options.debug?.(`Not watching pod ${pod.namespace}/${pod.name} (the watch was refused); the agent will report it gone`);
        return new Promise<void>(() => {});
      }
      try {
        await options.clock.sleep(REWATCH_DELAY_MS, signal);
      } catch {
        return new Promise<void>(() => {});
      }
    }
  };
}
