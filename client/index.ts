// kubectl-rpf as a library: reversePortForward() and the pieces it is built
// from, for test suites that need pods to call back into them.

/** Start a reverse port-forward; the CLI is a thin layer on this. */
export { reversePortForward, runReversePortForward } from './library.ts';
/** The running forward, its states and how it ended. */
export type { ForwardEnd, ForwardState, ForwardStateChange, ReverseForward } from './library.ts';
/** Reconnecting: the state machine, its policy and its delays. */
export { DEFAULT_PORT_RECLAIM_MS, ReconnectingForward } from './reconnecting-forward.ts';
/** Reconnecting forward types. */
export type { ReconnectingForwardOptions } from './reconnecting-forward.ts';
export { portInUse, reconnectVerdict } from './reconnect-policy.ts';
export type { ReconnectVerdict } from './reconnect-policy.ts';
export { Backoff, DEFAULT_BACKOFF_INITIAL_MS, DEFAULT_BACKOFF_MAX_MS } from './backoff.ts';
export type { BackoffOptions } from './backoff.ts';
/** One tunnel to one pod, and why a session was lost. */
export { openForwardTunnel } from './forward-tunnel.ts';
export type { ForwardTunnel, TunnelOpener } from './forward-tunnel.ts';
export { LOST_PREFIX, lostError } from './lost-error.ts';
/** Watching the pod of a workload target for its leaving. */
export { podLeavingWatcher } from './pod-watch.ts';
export type { PodLeaving, PodWatchOptions } from './pod-watch.ts';
/** Options, completed: everything a run needs. */
export { completeOptions } from './options.ts';
/** Option types. */
export type { CompletedOptions, LogStream, ReversePortForwardOptions, RunDependencies } from './options.ts';
/** The one validator of flags and options. */
export { addressFlags, booleanFlag, checkAddress, checkNotEmptyFlag, invalidArgs, podRunningTimeoutFlag, validateInputs } from './validate.ts';
/** Validator types. */
export type { Inputs, ValidInputs } from './validate.ts';

/** Errors: the class, its code table and a type guard. */
export { CLIENT_ERROR_CODES, RpfClientError, isRpfClientError, toClientError } from './errors.ts';
/** Types of the errors. */
export type { ClientErrorCode, ClientErrorInfo, RpfClientErrorOptions } from './errors.ts';

/** Port specs (KEP-5695 grammar). */
export { checkPortMapping, formatPortMapping, parsePortSpec, parsePortSpecs } from './port-spec.ts';
/** A port mapping. */
export type { PortMapping } from './port-spec.ts';

/** Targets: the POD or TYPE/NAME grammar. */
export { formatTarget, kindInfo, parseTarget } from './target.ts';
/** Target types. */
export type { KindInfo, TargetKind, TargetRef } from './target.ts';
/** A target resolved to a running pod. */
export { compareActivePods, resolveTargetPod, selectorString } from './pod-resolver.ts';
/** Pod resolution types. */
export type { LabelSelector, PodObject, ResolveOptions, ResolvedPod } from './pod-resolver.ts';
/** The client's time source. */
export { systemClock } from './clock.ts';
/** Clock types. */
export type { Clock, WaitClock } from './clock.ts';

/** Kubeconfig, API reads and the install check. */
export { APISERVICE_NAME, KubeApiClient, apiUrl, checkInstalled, loadKubeContext } from './kube.ts';
/** Kube types. */
export type { KubeApiClientOptions, KubeContext, KubeContextOptions, KubeReader } from './kube.ts';
/** Kubeconfig files, merged the way kubectl merges them, and a context's credentials. */
export { loadKubeconfig, mergeKubeconfigs, parseKubeconfig } from './kubeconfig.ts';
export type { Kubeconfig, KubeconfigEntry } from './kubeconfig.ts';
export { KubeCredentials, resolveContext } from './kube-credentials.ts';
export type { CredentialOptions, ResolvedContext } from './kube-credentials.ts';

/** The tunnel's WebSocket and session. */
export { openTunnel, tunnelPath, tunnelUrl } from './tunnel-connection.ts';
/** Tunnel types. */
export type { SessionEndpoint, SessionFactory, SetupTunnelRequest, Tunnel, TunnelRequest, TunnelTarget } from './tunnel-connection.ts';

/** Joining channels to local connections. */
export { Forwarder, bindListeners, describeDialError, formatHostPort } from './forwarder.ts';
/** Forwarder types. */
export type { Dialer, ForwarderOptions, ListenerBinding } from './forwarder.ts';

/** Refusals as errors. */
export { ERROR_CODE_HEADER, parseStatus, statusError } from './status-error.ts';
/** A Kubernetes Status body. */
export type { StatusBody } from './status-error.ts';

/** Go-style durations. */
export { formatDuration, parseDuration } from './duration.ts';

/** The command line. */
export { USAGE, clientVersion, parseCommandLine, runCli } from './cli.ts';
/** Command line types. */
export type { CliIo, CommandLine } from './cli.ts';
