// reversePortForward(): the whole client as one call, for test suites that
// need pods to call back into them, and for the CLI, which is a thin layer on
// it. complete (options.ts: validate every input, load the kubeconfig; no
// network) -> run (resolve a workload's pod, open the first tunnel, wait for
// the listeners; the install check only to explain a refusal) -> a handle whose `closed` says when and why the
// forward ended. While it runs, a lost session is reconnected
// (reconnecting-forward.ts) unless the caller turned that off.

import { RpfClientError } from './errors.ts';
import { checkInstalled } from './kube.ts';
import { openForwardTunnel } from './forward-tunnel.ts';
import type { ForwardTunnel } from './forward-tunnel.ts';
import type { ListenerBinding } from './forwarder.ts';
import { completeOptions } from './options.ts';
import type { CompletedOptions, ReversePortForwardOptions, RunDependencies } from './options.ts';
import { resolveTargetPod } from './pod-resolver.ts';
import { podLeavingWatcher } from './pod-watch.ts';
import type { ResolvedPod } from './pod-resolver.ts';
import { ReconnectingForward } from './reconnecting-forward.ts';
import type { ForwardEnd, ForwardState } from './reconnecting-forward.ts';
import { formatTarget } from './target.ts';

export type { ForwardEnd, ForwardState, ForwardStateChange } from './reconnecting-forward.ts';

/** A running reverse port-forward. */
export interface ReverseForward {
  /** One entry per listener in the pod (per address and port), of the latest connection. */
  readonly listeners: readonly ListenerBinding[];
  /** The pod the target resolved to (for a workload, the pod it follows now). */
  readonly pod: ResolvedPod;
  /** The negotiated tunnel protocol, e.g. `v1.rpf.kube-rpf.dev`. */
  readonly protocol: string;
  /** 'connected', 'reconnecting' or 'ended'. */
  readonly state: ForwardState;
  /** Ends the forward (GOAWAY, listeners in the pod close; or stops reconnecting) and waits until it is over. */
  close(): Promise<void>;
  /** Resolves once the forward ended, however it ended; never rejects. */
  readonly closed: Promise<ForwardEnd>;
}

/** Runs a completed configuration: install check, pod, first tunnel, listeners; then keeps it up. */
export async function runReversePortForward(completed: CompletedOptions): Promise<ReverseForward> {
  const { context, target, reader, signal, log, debug } = completed;
  debug(`Using context "${context.contextName}", server ${context.server}, namespace ${context.namespace}`);

  const resolve = (ready: boolean, resolveSignal: AbortSignal | undefined) =>
    resolveTargetPod({
      reader,
      namespace: context.namespace,
      target,
      timeoutMs: completed.podRunningTimeoutMs,
      clock: completed.clock,
      ...(resolveSignal === undefined ? {} : { signal: resolveSignal }),
      onWait: (message) => log(message, 'stderr'),
      ready,
    });

  // A plain pod name goes straight to the upgrade: rpf-server reads the pod
  // anyway and refuses one that is missing or not running, so a read here
  // would only cost a round trip. Other targets name pods through a selector
  // and are resolved first. The install check waits for a failure: a missing
  // install explains any refusal, so it is asked only then, and reported first.
  const explained = async (error: unknown): Promise<never> => {
    if (!(error instanceof RpfClientError) || error.code === 'RPF_ERR_CLIENT_ABORTED') throw error;
    await checkInstalled(reader);
    throw error;
  };
  let pod: ResolvedPod = target.kind === 'pod' ? { namespace: context.namespace, name: target.name } : await resolve(false, signal).catch(explained);
  if (target.kind !== 'pod') debug(`Resolved ${formatTarget(target)} to pod ${pod.namespace}/${pod.name}`);

  let first: ForwardTunnel;
  try {
    first = await openForwardTunnel(completed, pod, completed.mappings, signal);
  } catch (error) {
    // A named pod that is not running yet: wait for it as kubectl does
    // (--pod-running-timeout), then ask once more.
    if (!(error instanceof RpfClientError) || error.code !== 'RPF_ERR_CLIENT_POD_NOT_RUNNING' || target.kind !== 'pod') return explained(error);
    pod = await resolve(false, signal);
    first = await openForwardTunnel(completed, pod, completed.mappings, signal).catch(explained);
  }
  const forward = new ReconnectingForward({
    first,
    mappings: completed.mappings,
    reconnect: completed.reconnect,
    followsWorkload: target.kind !== 'pod',
    targetName: formatTarget(target),
    // A bare 404 (no pod named in it) on a reconnect is kube-apiserver
    // without our API group: say that kube-rpf was uninstalled, if it was.
    open: (to, mappings, attemptSignal) =>
      openForwardTunnel(completed, to, mappings, attemptSignal).catch(async (error: unknown) => {
        if (error instanceof RpfClientError && error.status === 404 && error.upstreamCode === undefined) await checkInstalled(reader);
        throw error;
      }),
    resolve: (resolveSignal) => resolve(true, resolveSignal),
    ...(target.kind === 'pod' ? {} : { podLeaving: podLeavingWatcher({ context, userAgent: completed.userAgent, clock: completed.clock, debug }) }),
    clock: completed.clock,
    ...(completed.backoff === undefined ? {} : { backoff: completed.backoff }),
    log: (line) => log(line, 'stderr'),
    debug,
    ...(completed.onStateChange === undefined ? {} : { onStateChange: completed.onStateChange }),
    ...(signal === undefined ? {} : { signal }),
  });

  return {
    get listeners() {
      return forward.tunnel.listeners;
    },
    get pod() {
      return forward.tunnel.pod;
    },
    get protocol() {
      return forward.tunnel.protocol;
    },
    get state() {
      return forward.state;
    },
    close: () => forward.close(),
    closed: forward.closed,
  };
}

/**
 * Starts a reverse port-forward: connections a process in the pod makes to
 * 127.0.0.1:REMOTE (and [::1]:REMOTE) reach localhost:LOCAL here. Resolves
 * once the agent's listeners are open; rejects with an RpfClientError. Once
 * running, a lost session is reconnected (`reconnect: false` turns that off;
 * `onStateChange` reports it).
 *
 * @example
 * const forward = await reversePortForward({ target: 'deploy/web', namespace: 'dev', ports: ['8080:3000'] });
 * // ... the pod calls back to 127.0.0.1:8080 ...
 * await forward.close();
 */
export async function reversePortForward(options: ReversePortForwardOptions, deps: RunDependencies = {}): Promise<ReverseForward> {
  return runReversePortForward(completeOptions(options, deps));
}
