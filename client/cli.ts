// The command line of `kubectl rpf`, with kubectl port-forward's flags and
// habits: parse flags (parseCommandLine, checking their forms with
// validate.ts), hand the rest to the library (which validates the rest with
// the same validator), print its lines, and turn every failure into ONE line
// `error: ...` on stderr and an exit code, here and nowhere else.

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { RpfClientError, toClientError } from './errors.ts';
import { reversePortForward } from './library.ts';
import type { ReversePortForwardOptions } from './options.ts';
import { addressFlags, booleanFlag, checkNotEmptyFlag, invalidArgs, podRunningTimeoutFlag } from './validate.ts';

/** `kubectl rpf --help`. */
export const USAGE = `Forward connections that processes in a pod make to REMOTE in the pod's own
network namespace back to LOCAL on this machine, like ssh -R.

Listeners open on 127.0.0.1 and ::1 in the pod unless --address says otherwise.
Each port spec is REMOTE:LOCAL; a lone PORT means the same port on both sides,
and 0:LOCAL lets the pod pick a free port (the line "Forwarding from" names it).

Examples:
  # A process in pod mypod that connects to 127.0.0.1:8080 reaches localhost:3000 here
  kubectl rpf mypod 8080:3000

  # The same port on both sides, in a pod selected by a deployment
  kubectl rpf deployment/web 5432

  # Let the pod pick a free port for localhost:3000
  kubectl rpf -n dev pod/api 0:3000

  # Listen on every address of the pod, reachable by other pods (needs the 'expose' permission)
  kubectl rpf mypod 8080:3000 --address 0.0.0.0

Options:
  -n, --namespace='': Namespace of the target (default: the context's namespace, else "default").
      --context='': The kubeconfig context to use.
      --kubeconfig='': Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
      --address=[]: Addresses to listen on in the pod, repeated or comma-separated: IP literals or
        localhost (default 127.0.0.1 and ::1). Non-loopback addresses need the 'expose' permission.
      --pod-running-timeout=1m0s: How long to wait until a pod is running (like 5s, 2m, or 3h,
        higher than zero).
      --reconnect=true: When the tunnel drops for a reason that may pass (an agent or rpf-server
        restart, network loss), reconnect with backoff and reopen the same listeners; a TYPE/NAME
        target follows its workload to a new pod. --reconnect=false exits on the first loss.
  -v, --verbose=false: Print more detail on stderr.
  -h, --help=false: Print this help.
      --version=false: Print the version of kubectl-rpf.

Supported TYPEs: pod (po), deployment (deploy), replicaset (rs), statefulset (sts), daemonset (ds),
replicationcontroller (rc), job, service (svc); TYPE.GROUP forms such as deployment.apps work too.

Usage:
  kubectl rpf TYPE/NAME [options] REMOTE[:LOCAL] [...[REMOTE_N[:LOCAL_N]]]
`;

/** What the command line asks for. */
export type CommandLine =
  | { readonly kind: 'help' }
  | { readonly kind: 'version' }
  | { readonly kind: 'forward'; readonly options: ReversePortForwardOptions };

// parseArgs words its errors for Node; say them the way kubectl does.
function flagError(error: Error & { code?: string }): RpfClientError {
  const name = /'(-[^']*)'/.exec(error.message)?.[1];
  switch (error.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return invalidArgs(`unknown flag: ${name ?? error.message}`);
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
      const long = /--[a-z-]+/.exec(error.message)?.[0];
      return invalidArgs(/argument missing/.test(error.message) ? `flag needs an argument: ${long ?? name}` : `${error.message}`);
    }
    default:
      return invalidArgs(error.message);
  }
}

/**
 * Parses and validates the arguments after `kubectl rpf`. Throws
 * RPF_ERR_CLIENT_INVALID_ARGS; the target and port specs are checked later,
 * by the library, with their own codes.
 */
export function parseCommandLine(argv: readonly string[]): CommandLine {
  const { rest, reconnect } = takeReconnectFlag(argv);
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      strict: true,
      options: {
        namespace: { type: 'string', short: 'n' },
        context: { type: 'string' },
        kubeconfig: { type: 'string' },
        address: { type: 'string', multiple: true },
        'pod-running-timeout': { type: 'string' },
        verbose: { type: 'boolean', short: 'v' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' },
      },
    });
  } catch (error) {
    throw flagError(error as Error);
  }
  const { values, positionals } = parsed;
  if (values.help) return { kind: 'help' };
  if (values.version) return { kind: 'version' };
  const [target, ...ports] = positionals;
  if (target === undefined || ports.length === 0) {
    throw invalidArgs('TYPE/NAME and a list of ports are required for reverse port-forward; see kubectl rpf --help');
  }
  for (const flag of ['namespace', 'context', 'kubeconfig'] as const) checkNotEmptyFlag(flag, values[flag]);
  const options: ReversePortForwardOptions = { target, ports };
  if (values.namespace !== undefined) options.namespace = values.namespace;
  if (values.context !== undefined) options.context = values.context;
  if (values.kubeconfig !== undefined) options.kubeconfig = values.kubeconfig;
  if (values.address !== undefined) options.address = addressFlags(values.address);
  const timeout = values['pod-running-timeout'];
  if (timeout !== undefined) options.podRunningTimeoutMs = podRunningTimeoutFlag(timeout);
  if (values.verbose) options.verbose = true;
  if (reconnect !== undefined) options.reconnect = reconnect;
  return { kind: 'forward', options };
}

/**
 * Takes `--reconnect` and `--reconnect=BOOL` out of the arguments (before a
 * `--`), the last one winning, as kubectl's boolean flags work: node's
 * parseArgs has no `--flag=false` for a boolean. A bare `--reconnect` is true;
 * `--reconnect false` would leave `false` a positional, as in kubectl.
 */
function takeReconnectFlag(argv: readonly string[]): { rest: string[]; reconnect: boolean | undefined } {
  const rest: string[] = [];
  let reconnect: boolean | undefined;
  let positionalOnly = false;
  for (const arg of argv) {
    if (!positionalOnly && arg === '--') positionalOnly = true;
    const match = positionalOnly ? null : /^--reconnect(?:=(.*))?$/s.exec(arg);
    if (match === null) rest.push(arg);
    else reconnect = match[1] === undefined ? true : booleanFlag('reconnect', match[1]);
  }
  return { rest, reconnect };
}

// Set at build time by release/bundle.ts (esbuild's `define`) for the single
// executable, which has no package.json next to it; undeclared elsewhere.
declare const KUBE_RPF_VERSION: string | undefined;

/**
 * The version of kubectl-rpf: the one fixed at build time in the single
 * executable, else the version in the nearest package.json above this file
 * (client/ in the source tree, dist/client/ when built).
 */
export function clientVersion(): string {
  if (typeof KUBE_RPF_VERSION === 'string') return KUBE_RPF_VERSION;
  return packageVersion();
}

function packageVersion(): string {
  for (const path of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'kube-rpf' && pkg.version) return pkg.version;
    } catch {
      // try the next one
    }
  }
  return 'unknown';
}

/** Where the CLI writes and what stops it. */
export interface CliIo {
  /** One line to stdout (no newline). */
  stdout: (line: string) => void;
  /** One line to stderr (no newline). */
  stderr: (line: string) => void;
  /** Aborted on SIGINT/SIGTERM: cancels the start, or ends a running session cleanly. */
  signal?: AbortSignal;
}

/**
 * Runs `kubectl rpf ARGS` and returns the exit code: 0 after --help,
 * --version, or a session ended by the signal; otherwise the error's code
 * after one line `error: ...` on stderr (nothing for a cancelled start).
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  try {
    const command = parseCommandLine(argv);
    if (command.kind === 'help') {
      for (const line of USAGE.trimEnd().split('\n')) io.stdout(line);
      return 0;
    }
    const version = clientVersion();
    if (command.kind === 'version') {
      io.stdout(`kubectl-rpf ${version}`);
      return 0;
    }
    const forward = await reversePortForward({
      ...command.options,
      userAgent: `kubectl-rpf/${version}`,
      log: (line, stream) => (stream === 'stdout' ? io.stdout(line) : io.stderr(line)),
      ...(io.signal === undefined ? {} : { signal: io.signal }),
    });
    const end = await forward.closed;
    if (end.error !== undefined) throw end.error;
    return 0;
  } catch (caught) {
    const error = toClientError(caught);
    // One line, whatever the server put in its message.
    if (error.code !== 'RPF_ERR_CLIENT_ABORTED') io.stderr(`error: ${error.message.replace(/\s*\n\s*/g, ' ')}`);
    return error.exitCode;
  }
}
