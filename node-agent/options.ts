/**
 * rpf-agent's options, shaped as rpf-server's (server/options.ts): flags ->
 * completeAgentOptions() fills defaults -> validateAgentFlags() returns every
 * error with its field path -> buildAgentConfig() reads the files into a
 * {@link CompletedAgentConfig}, the only thing that can build an agent.
 */
import { accessSync, constants as fsConstants, existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { checkBoolean, checkOneOf, checkReadableFile, fillDefaults, flagOf, flagUsage, formatFieldErrors, parseFlagArgs } from '../protocol/flags.ts';
import type { FieldError, FlagSpec, ParsedFlagArgs } from '../protocol/flags.ts';
import { RpfAgentError } from './errors.ts';

/** Flag values as given (strings), before defaults and checks. */
export interface RawAgentOptions {
  securePort?: string;
  bindAddress?: string;
  tlsCertFile?: string;
  tlsPrivateKeyFile?: string;
  clientCaFile?: string;
  allowedClientNames?: string;
  metricsPort?: string;
  procRoot?: string;
  nsenter?: string;
  netnsHelper?: string;
  maxSessions?: string;
  maxSessionsPerUser?: string;
  maxConnectionsPerSession?: string;
  idleTimeoutSeconds?: string;
  keepaliveIntervalSeconds?: string;
  keepaliveTimeoutSeconds?: string;
  allowHostNetwork?: string;
  logLevel?: string;
  podCheckIntervalSeconds?: string;
  tlsHandshakeTimeoutSeconds?: string;
  requestHeaderTimeoutSeconds?: string;
  requestTimeoutSeconds?: string;
  keepAliveTimeoutSeconds?: string;
  maxConnections?: string;
  maxPeerBacklogBytes?: string;
}

/** The native helper the image carries; without it (the agent run from source) listeners are opened by nsenter and a Node helper, ~40 ms slower. */
const DEFAULT_NETNS_HELPER = '/usr/local/bin/rpf-netns-listen';

/** Every flag rpf-agent accepts, in the order `--help` lists them. */
export const FLAGS: readonly FlagSpec<keyof RawAgentOptions>[] = [
  { flag: 'secure-port', field: 'securePort', default: '8443', help: 'TLS port rpf-server connects to (0 picks a free port: tests)' },
  { flag: 'bind-address', field: 'bindAddress', default: '0.0.0.0', help: 'IP address to listen on' },
  { flag: 'tls-cert-file', field: 'tlsCertFile', help: 'serving certificate (PEM), required' },
  { flag: 'tls-private-key-file', field: 'tlsPrivateKeyFile', help: 'serving private key (PEM), required' },
  { flag: 'client-ca-file', field: 'clientCaFile', help: "CA that signs rpf-server's client certificate (PEM), required" },
  { flag: 'allowed-client-names', field: 'allowedClientNames', default: 'rpf-server', help: 'comma-separated names a client certificate may carry' },
  // 0 turns metrics off, as rpf-server's --metrics-port.
  { flag: 'metrics-port', field: 'metricsPort', default: '9464', help: 'plain HTTP port of /metrics (0 disables)' },
  { flag: 'proc-root', field: 'procRoot', default: '/proc', help: "the host's /proc (the agent runs with hostPID)" },
  { flag: 'nsenter', field: 'nsenter', default: 'nsenter', help: 'nsenter, used when rpf-netns-listen is not installed' },
  { flag: 'netns-helper', field: 'netnsHelper', default: DEFAULT_NETNS_HELPER, help: 'rpf-netns-listen; the default may be missing (nsenter is used), a path given on purpose must be executable' },
  { flag: 'max-sessions', field: 'maxSessions', default: '100', help: 'most sessions on this node' },
  { flag: 'max-sessions-per-user', field: 'maxSessionsPerUser', default: '50', help: 'most sessions one user may hold on this node' },
  { flag: 'max-connections-per-session', field: 'maxConnectionsPerSession', default: '1000', help: 'most pod connections open at once in one session' },
  { flag: 'idle-timeout-seconds', field: 'idleTimeoutSeconds', default: '0', help: 'end a session after this long without a pod connection (0: never)' },
  // Keepalive: a client that goes silent is declared dead after 12 s, so its
  // listeners are gone within the 15 s the design promises, cleanup included.
  { flag: 'keepalive-interval-seconds', field: 'keepaliveIntervalSeconds', default: '4', help: 'silence before a tunnel PING' },
  { flag: 'keepalive-timeout-seconds', field: 'keepaliveTimeoutSeconds', default: '12', help: 'silence after which the tunnel peer is dead' },
  { flag: 'allow-host-network', field: 'allowHostNetwork', boolean: true, default: 'false', help: 'allow sessions into hostNetwork pods (opens ports on the node)' },
  { flag: 'log-level', field: 'logLevel', default: 'info', help: 'fatal, error, warn, info, debug or trace' },
  // A deleted pod's session ends within about this long (0: never checked).
  { flag: 'pod-check-interval-seconds', field: 'podCheckIntervalSeconds', default: '2', help: 'time between two checks that a session\'s pod still runs (0: never)' },
  // Bounds from accept (issue 8, finding 2): every pod can reach the agent's
  // port, and a connection that never authenticates must not be held. Only
  // rpf-server talks to the agent, from the cluster network: 10 s for TLS and
  // for the request headers is plenty; 5 s of keep-alive is Node's own default.
  // Upgraded tunnels leave Node's HTTP timers and are not cut by these.
  { flag: 'tls-handshake-timeout-seconds', field: 'tlsHandshakeTimeoutSeconds', default: '10', help: 'time from accepting a connection to the end of its TLS handshake' },
  { flag: 'request-header-timeout-seconds', field: 'requestHeaderTimeoutSeconds', default: '10', help: 'time a connection has to send its request headers' },
  { flag: 'request-timeout-seconds', field: 'requestTimeoutSeconds', default: '30', help: 'time a connection has to send its whole request, at least --request-header-timeout-seconds' },
  { flag: 'keep-alive-timeout-seconds', field: 'keepAliveTimeoutSeconds', default: '5', help: 'how long a connection may stay idle between requests' },
  // Tunnels count too: no default here, completeAgentOptions() derives it so
  // that open sessions never starve rpf-server's listing and deleting.
  { flag: 'max-connections', field: 'maxConnections', help: 'most connections held at once, tunnels included (default 1000 or twice --max-sessions, whichever is more)' },
  // What one tunnel peer may leave unread in our WebSocket's send buffer
  // before its session is ended (finding 1b): 16 times the 1 MiB message
  // maximum, far above what an honest, reading peer ever leaves.
  { flag: 'max-peer-backlog-bytes', field: 'maxPeerBacklogBytes', default: String(16 * 1024 * 1024), help: 'bytes a tunnel peer may leave unread before its session is ended' },
];

/** One invalid option: the option field path and what is wrong (protocol/flags.ts). */
export type { FieldError } from '../protocol/flags.ts';

/** Thrown by {@link buildAgentConfig} with every invalid option at once. */
export class AgentOptionsError extends RpfAgentError {
  readonly errors: readonly FieldError[];

  constructor(errors: readonly FieldError[]) {
    super('RPF_ERR_AGENT_INVALID_OPTIONS', formatFieldErrors(errors));
    this.name = 'AgentOptionsError';
    this.errors = errors;
  }
}

declare const completed: unique symbol;

/** The agent's configuration, checked and with its files read; only {@link buildAgentConfig} makes one. */
export interface CompletedAgentConfig {
  readonly securePort: number;
  readonly bindAddress: string;
  readonly tls: { readonly cert: Buffer; readonly key: Buffer; readonly ca: Buffer };
  readonly allowedClientNames: readonly string[];
  readonly metricsPort: number;
  readonly procRoot: string;
  readonly nsenter: string;
  /** Path of rpf-netns-listen, or undefined when it is not installed. */
  readonly netnsHelper: string | undefined;
  readonly maxSessions: number;
  readonly maxSessionsPerUser: number;
  readonly maxConnectionsPerSession: number;
  readonly idleTimeoutMs: number;
  readonly keepaliveIntervalMs: number;
  readonly keepaliveTimeoutMs: number;
  readonly allowHostNetwork: boolean;
  readonly logLevel: string;
  readonly podCheckIntervalMs: number;
  readonly tlsHandshakeTimeoutMs: number;
  readonly requestHeaderTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly maxConnections: number;
  readonly maxPeerBacklogBytes: number;
  readonly [completed]: true;
}

/** A validated configuration whose files are not read yet. */
export type ValidatedAgentOptions = Omit<CompletedAgentConfig, 'tls' | typeof completed> & {
  readonly tlsFiles: { readonly cert: string; readonly key: string; readonly ca: string };
};

/** What {@link parseAgentFlags} found: values, plus errors for unknown or incomplete flags. */
export type ParsedAgentFlags = ParsedFlagArgs<keyof RawAgentOptions>;

/** Parses `--flag=value`, `--flag value` and bare boolean flags (protocol/flags.ts); rpf-agent reads no environment. */
export function parseAgentFlags(argv: readonly string[]): ParsedAgentFlags {
  return parseFlagArgs(FLAGS, argv);
}

/**
 * Whether a flag value is a whole number. Number()'s reading, as before, so
 * that Helm's rendering of a large value ("1e+06": values are float64) still
 * counts; an empty value does not.
 */
function isWhole(text: string | undefined): text is string {
  return text !== undefined && text.trim() !== '' && Number.isSafeInteger(Number(text));
}

/** Fills defaults for every option not given; --max-connections is 1000 or twice --max-sessions, whichever is more. */
export function completeAgentOptions(raw: RawAgentOptions): RawAgentOptions {
  const out: RawAgentOptions = fillDefaults(FLAGS, raw);
  // The chart allows up to 100000 sessions per node and does not pass the flag.
  if ((out.maxConnections === undefined || out.maxConnections === '') && isWhole(out.maxSessions)) {
    out.maxConnections = String(Math.max(1000, 2 * Number(out.maxSessions)));
  }
  return out;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'];

function checkInteger(errors: FieldError[], field: keyof RawAgentOptions, o: RawAgentOptions, min: number, max: number): number {
  const text = o[field];
  const n = Number(text);
  if (!isWhole(text) || n < min || n > max) {
    errors.push({ field, message: `--${flagOf(FLAGS, field)} must be an integer from ${min} to ${max}, got "${text ?? ''}"` });
    return Number.NaN;
  }
  return n;
}

/** Whether this process may access `file` with `mode` (fs.constants R_OK, X_OK). */
function hasAccess(file: string, mode: number): boolean {
  try {
    accessSync(file, mode);
    return true;
  } catch {
    return false;
  }
}

/** Checks completed options and returns every error, or the validated options. */
export function validateAgentFlags(o: RawAgentOptions): { options: ValidatedAgentOptions; errors: [] } | { options: undefined; errors: FieldError[] } {
  const errors: FieldError[] = [];
  // 0 picks a free port (tests), as rpf-server's --secure-port.
  const securePort = checkInteger(errors, 'securePort', o, 0, 65535);
  const metricsPort = checkInteger(errors, 'metricsPort', o, 0, 65535);
  const maxSessions = checkInteger(errors, 'maxSessions', o, 1, 100_000);
  const maxSessionsPerUser = checkInteger(errors, 'maxSessionsPerUser', o, 1, 100_000);
  const maxConnectionsPerSession = checkInteger(errors, 'maxConnectionsPerSession', o, 1, 100_000);
  const idleTimeoutSeconds = checkInteger(errors, 'idleTimeoutSeconds', o, 0, 7 * 24 * 3600);
  const keepaliveIntervalSeconds = checkInteger(errors, 'keepaliveIntervalSeconds', o, 1, 3600);
  const keepaliveTimeoutSeconds = checkInteger(errors, 'keepaliveTimeoutSeconds', o, 2, 3600);
  const podCheckIntervalSeconds = checkInteger(errors, 'podCheckIntervalSeconds', o, 0, 3600);
  const tlsHandshakeTimeoutSeconds = checkInteger(errors, 'tlsHandshakeTimeoutSeconds', o, 1, 3600);
  const requestHeaderTimeoutSeconds = checkInteger(errors, 'requestHeaderTimeoutSeconds', o, 1, 3600);
  const requestTimeoutSeconds = checkInteger(errors, 'requestTimeoutSeconds', o, 1, 3600);
  const keepAliveTimeoutSeconds = checkInteger(errors, 'keepAliveTimeoutSeconds', o, 1, 3600);
  // Empty only when --max-sessions is invalid too (completeAgentOptions derives it): that error is reported.
  const maxConnections = o.maxConnections === undefined || o.maxConnections === '' ? Number.NaN : checkInteger(errors, 'maxConnections', o, 2, 1_000_000);
  const maxPeerBacklogBytes = checkInteger(errors, 'maxPeerBacklogBytes', o, 2 * 1024 * 1024, 1024 * 1024 * 1024);
  // Node refuses a server whose header timeout exceeds its request timeout.
  if (requestTimeoutSeconds < requestHeaderTimeoutSeconds) {
    errors.push({ field: 'requestTimeoutSeconds', message: '--request-timeout-seconds must not be shorter than --request-header-timeout-seconds' });
  }
  if (maxConnections <= maxSessions) {
    errors.push({ field: 'maxConnections', message: '--max-connections must be more than --max-sessions (every session holds a connection)' });
  }
  if (keepaliveTimeoutSeconds <= keepaliveIntervalSeconds) {
    errors.push({ field: 'keepaliveTimeoutSeconds', message: '--keepalive-timeout-seconds must be longer than --keepalive-interval-seconds' });
  }
  const file = { required: true, canRead: (path: string) => hasAccess(path, fsConstants.R_OK) };
  const cert = checkReadableFile(errors, 'tlsCertFile', 'tls-cert-file', o.tlsCertFile, file);
  const key = checkReadableFile(errors, 'tlsPrivateKeyFile', 'tls-private-key-file', o.tlsPrivateKeyFile, file);
  const ca = checkReadableFile(errors, 'clientCaFile', 'client-ca-file', o.clientCaFile, file);
  const allowedClientNames = (o.allowedClientNames ?? '')
    .split(',')
    .map((n) => n.trim())
    .filter(Boolean);
  if (allowedClientNames.length === 0) errors.push({ field: 'allowedClientNames', message: '--allowed-client-names needs at least one name' });
  // The default may be missing (the agent run from source falls back to
  // nsenter); a path given on purpose must work.
  const helper = o.netnsHelper ?? '';
  if (helper !== DEFAULT_NETNS_HELPER && helper !== '' && !hasAccess(helper, fsConstants.X_OK)) {
    errors.push({ field: 'netnsHelper', message: `--netns-helper: ${helper} is not an executable file` });
  }
  const allowHostNetwork = checkBoolean(errors, 'allowHostNetwork', 'allow-host-network', o.allowHostNetwork);
  const logLevel = checkOneOf(errors, 'logLevel', 'log-level', o.logLevel, LOG_LEVELS);
  if (errors.length > 0) return { options: undefined, errors };
  return {
    options: {
      securePort,
      bindAddress: o.bindAddress ?? '',
      tlsFiles: { cert, key, ca },
      allowedClientNames,
      metricsPort,
      procRoot: o.procRoot ?? '',
      nsenter: o.nsenter ?? '',
      netnsHelper: helper !== '' && existsSync(helper) ? helper : undefined,
      maxSessions,
      maxSessionsPerUser,
      maxConnectionsPerSession,
      idleTimeoutMs: idleTimeoutSeconds * 1000,
      keepaliveIntervalMs: keepaliveIntervalSeconds * 1000,
      keepaliveTimeoutMs: keepaliveTimeoutSeconds * 1000,
      allowHostNetwork,
      logLevel,
      podCheckIntervalMs: podCheckIntervalSeconds * 1000,
      tlsHandshakeTimeoutMs: tlsHandshakeTimeoutSeconds * 1000,
      requestHeaderTimeoutMs: requestHeaderTimeoutSeconds * 1000,
      requestTimeoutMs: requestTimeoutSeconds * 1000,
      keepAliveTimeoutMs: keepAliveTimeoutSeconds * 1000,
      maxConnections,
      maxPeerBacklogBytes,
    },
    errors: [],
  };
}

/** argv -> a completed config with its files read; throws {@link AgentOptionsError} listing every problem. */
export async function buildAgentConfig(argv: readonly string[]): Promise<CompletedAgentConfig> {
  const parsed = parseAgentFlags(argv);
  const result = validateAgentFlags(completeAgentOptions(parsed.options));
  const errors = [...parsed.errors, ...result.errors];
  if (errors.length > 0 || result.options === undefined) throw new AgentOptionsError(errors);
  const { tlsFiles, ...rest } = result.options;
  const readErrors: FieldError[] = [];
  const read = async (field: keyof RawAgentOptions, flag: string, path: string): Promise<Buffer> =>
    readFile(path).catch((error: Error) => {
      readErrors.push({ field, message: `--${flag}: cannot read "${path}": ${error.message}` });
      return Buffer.alloc(0);
    });
  const tls = {
    cert: await read('tlsCertFile', 'tls-cert-file', tlsFiles.cert),
    key: await read('tlsPrivateKeyFile', 'tls-private-key-file', tlsFiles.key),
    ca: await read('clientCaFile', 'client-ca-file', tlsFiles.ca),
  };
  if (readErrors.length > 0) throw new AgentOptionsError(readErrors);
  return { ...rest, tls } as Omit<CompletedAgentConfig, typeof completed> as CompletedAgentConfig;
}

/** The `--help` text. */
export function usage(): string {
  return `Usage: rpf-agent [flags]\n\n${flagUsage(FLAGS)}\n`;
}
