/**
 * rpf-server's options: flags (with RPF_* environment fallbacks) -> complete()
 * fills defaults -> validate() returns every error with its field path -> a
 * completed {@link ServerConfig}, the only thing that can build a server.
 */
import { accessSync, constants as fsConstants } from 'node:fs';
import { isIP } from 'node:net';
import { checkBoolean, checkOneOf, checkReadableFile, fillDefaults, flagUsage, formatFieldErrors, parseFlagArgs } from '../protocol/flags.ts';
import type { FieldError, FlagSpec } from '../protocol/flags.ts';
import { parseDuration } from './duration.ts';
import { RpfServerError } from './errors.ts';
import { parsePortRanges } from './port-ranges.ts';
import { DEFAULT_SANDBOXED_HANDLERS, parseHandlerPatterns } from './sandbox-policy.ts';
import type { PortRange } from './port-ranges.ts';

/** Flag values as given (strings), before defaults and checks. */
export interface RawOptions {
  securePort?: string;
  bindAddress?: string;
  tlsCertFile?: string;
  tlsPrivateKeyFile?: string;
  agentCaFile?: string;
  agentClientCertFile?: string;
  agentClientKeyFile?: string;
  agentNamespace?: string;
  agentSelector?: string;
  agentPort?: string;
  agentServerName?: string;
  kubeconfig?: string;
  allowHostNetworkPods?: string;
  admissionWebhooks?: string;
  sandboxedRuntimeHandlers?: string;
  allowedPorts?: string;
  metricsPort?: string;
  logLevel?: string;
  maxSessionsPerUser?: string;
  maxSessionLifetime?: string;
  maxConnections?: string;
  tlsHandshakeTimeout?: string;
  requestHeaderTimeout?: string;
  requestReadTimeout?: string;
  keepAliveTimeout?: string;
  connectionIdleTimeout?: string;
}

/** Every flag rpf-server accepts, in the order `--help` lists them. */
export const FLAGS: readonly FlagSpec<keyof RawOptions>[] = [
  { flag: 'secure-port', field: 'securePort', default: '8443', help: 'HTTPS port kube-apiserver proxies to' },
  { flag: 'bind-address', field: 'bindAddress', default: '0.0.0.0', help: 'IP address to listen on' },
  { flag: 'tls-cert-file', field: 'tlsCertFile', help: 'serving certificate (PEM), required' },
  { flag: 'tls-private-key-file', field: 'tlsPrivateKeyFile', help: 'serving private key (PEM), required' },
  { flag: 'agent-ca-file', field: 'agentCaFile', help: 'CA that signs the agents\' serving certificates (PEM), required' },
  { flag: 'agent-client-cert-file', field: 'agentClientCertFile', help: 'client certificate for agents (PEM), required' },
  { flag: 'agent-client-key-file', field: 'agentClientKeyFile', help: 'client key for agents (PEM), required' },
  { flag: 'agent-namespace', field: 'agentNamespace', default: 'kube-rpf', help: 'namespace of the rpf-agent pods' },
  { flag: 'agent-selector', field: 'agentSelector', default: 'app.kubernetes.io/name=rpf-agent', help: 'label selector of the rpf-agent pods' },
  { flag: 'agent-port', field: 'agentPort', default: '8443', help: 'TLS port of the agents' },
  { flag: 'agent-server-name', field: 'agentServerName', default: 'rpf-agent', help: 'name the agents\' certificates must carry' },
  { flag: 'kubeconfig', field: 'kubeconfig', help: 'kubeconfig file; in-cluster configuration when absent' },
  { flag: 'allow-host-network-pods', field: 'allowHostNetworkPods', boolean: true, default: 'false', help: 'allow tunnels into hostNetwork pods (opens ports on the node)' },
  { flag: 'admission-webhooks', field: 'admissionWebhooks', boolean: true, default: 'true', help: 'call the cluster\'s validating webhooks for CONNECT on pods/reverseportforward (docs/admission.md)' },
  { flag: 'sandboxed-runtime-handlers', field: 'sandboxedRuntimeHandlers', default: DEFAULT_SANDBOXED_HANDLERS, help: 'RuntimeClass handlers whose pods run in a VM sandbox and are refused; * matches any characters; empty: none' },
  { flag: 'allowed-ports', field: 'allowedPorts', default: '1-65535', help: 'ports a pod may listen on, e.g. 1024-65535,80' },
  { flag: 'metrics-port', field: 'metricsPort', default: '9464', help: 'plain HTTP port of /metrics (0 disables)' },
  { flag: 'max-sessions-per-user', field: 'maxSessionsPerUser', default: '20', help: 'most tunnels one user may hold (open or being opened) through this replica' },
  { flag: 'max-session-lifetime', field: 'maxSessionLifetime', default: '0', help: 'end a tunnel this long after it opened, e.g. 8h (GOAWAY POLICY; 0: no limit)' },
  // The bounds below match what k8s.io/apiserver gives every aggregated API server
  // (secure_serving.go: ReadHeaderTimeout 32 s, IdleTimeout 90 s) and kube-aggregator's
  // 10 s TLS handshake timeout; connections include open tunnels.
  { flag: 'max-connections', field: 'maxConnections', default: '1000', help: 'most connections held at once, tunnels included; more are closed at accept' },
  { flag: 'tls-handshake-timeout', field: 'tlsHandshakeTimeout', default: '10s', help: 'time from accepting a connection to the end of its TLS handshake' },
  { flag: 'request-header-timeout', field: 'requestHeaderTimeout', default: '32s', help: 'time a connection has to send its request headers (408 after)' },
  { flag: 'request-read-timeout', field: 'requestReadTimeout', default: '60s', help: 'time a connection has to send its whole request, at least --request-header-timeout (408 after)' },
  { flag: 'keep-alive-timeout', field: 'keepAliveTimeout', default: '90s', help: 'how long a connection may stay idle between requests' },
  { flag: 'connection-idle-timeout', field: 'connectionIdleTimeout', default: '60s', help: 'how long a connection may stay silent while a request is read or answered (tunnels excepted)' },
  { flag: 'log-level', field: 'logLevel', default: 'info', help: 'fatal, error, warn, info, debug, trace or silent' },
];

/** One invalid option: the config field path and what is wrong (protocol/flags.ts). */
export type { FieldError } from '../protocol/flags.ts';

/** Thrown by {@link buildConfig} with every invalid option at once. */
export class OptionsError extends RpfServerError {
  readonly errors: readonly FieldError[];

  constructor(errors: readonly FieldError[]) {
    super('RPF_ERR_SERVER_INVALID_OPTIONS', formatFieldErrors(errors));
    this.name = 'OptionsError';
    this.errors = errors;
  }
}

declare const completed: unique symbol;

/** A validated configuration; only {@link buildConfig} makes one. */
export interface ServerConfig {
  readonly securePort: number;
  readonly bindAddress: string;
  readonly tlsCertFile: string;
  readonly tlsPrivateKeyFile: string;
  readonly agentCaFile: string;
  readonly agentClientCertFile: string;
  readonly agentClientKeyFile: string;
  readonly agentNamespace: string;
  readonly agentSelector: string;
  readonly agentPort: number;
  readonly agentServerName: string;
  readonly kubeconfig: string | undefined;
  readonly allowHostNetworkPods: boolean;
  readonly admissionWebhooks: boolean;
  readonly sandboxedRuntimeHandlers: readonly string[];
  readonly allowedPorts: readonly PortRange[];
  readonly metricsPort: number;
  readonly logLevel: string;
  readonly maxSessionsPerUser: number;
  /** 0: tunnels live as long as their peers keep them. */
  readonly maxSessionLifetimeMs: number;
  readonly maxConnections: number;
  readonly tlsHandshakeTimeoutMs: number;
  readonly requestHeaderTimeoutMs: number;
  readonly requestReadTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly connectionIdleTimeoutMs: number;
  readonly [completed]: true;
}

/** What {@link parseFlags} found: values, plus errors for unknown or incomplete flags. */
export interface ParsedFlags {
  readonly options: RawOptions;
  readonly errors: readonly FieldError[];
  readonly help: boolean;
}

/** The environment variable that backs a flag: `--agent-port` -> `RPF_AGENT_PORT`. */
export function envName(flag: string): string {
  return `RPF_${flag.toUpperCase().replaceAll('-', '_')}`;
}

/**
 * Parses `--flag=value`, `--flag value` and bare boolean flags
 * (protocol/flags.ts); a flag not given falls back to its RPF_* environment
 * variable, which only rpf-server reads.
 */
export function parseFlags(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}): ParsedFlags {
  const { options, errors, help } = parseFlagArgs(FLAGS, argv);
  for (const spec of FLAGS) {
    const fromEnv = env[envName(spec.flag)];
    if (options[spec.field] === undefined && fromEnv !== undefined && fromEnv !== '') options[spec.field] = fromEnv;
  }
  return { options, errors, help };
}

/** Fills defaults for every option not given. */
export function completeOptions(raw: RawOptions): RawOptions {
  return fillDefaults(FLAGS, raw);
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

// rpf-server's numbers are plain digits ("1e3" is an error); rpf-agent reads
// its numbers as Number() does, for Helm's sake: the grammars differ on
// purpose, so each daemon keeps its own number checks.
function checkPort(errors: FieldError[], field: string, flag: string, text: string | undefined, min: number): number {
  const n = Number(text);
  if (text === undefined || !/^[0-9]+$/.test(text) || n < min || n > 65535) {
    errors.push({ field, message: `--${flag} must be a port number ${min}-65535, got "${text ?? ''}"` });
    return 0;
  }
  return n;
}

function isReadable(path: string): boolean {
  try {
    accessSync(path, fsConstants.R_OK);
    return true;
  } catch {
    return false;
  }
}

function checkFile(errors: FieldError[], field: string, flag: string, path: string | undefined, required: boolean): string {
  return checkReadableFile(errors, field, flag, path, { required, canRead: isReadable });
}

function checkCount(errors: FieldError[], field: string, flag: string, text: string | undefined, max: number): number {
  const n = Number(text);
  if (text === undefined || !/^[0-9]+$/.test(text) || n < 1 || n > max) {
    errors.push({ field, message: `--${flag} must be a whole number 1-${max}, got "${text ?? ''}"` });
    return 0;
  }
  return n;
}

/** Longest timeout accepted: a day (Node's timers take at most ~24.8 days). */
const MAX_TIMEOUT_MS = 24 * 3_600_000;

function checkTimeout(errors: FieldError[], field: string, flag: string, text: string | undefined): number {
  const parsed = parseDuration(text ?? '');
  if (!parsed.ok) {
    errors.push({ field, message: `--${flag}: ${parsed.message}` });
    return 0;
  }
  // Zero would mean "no bound" to Node: exactly what these flags exist to prevent.
  if (parsed.ms < 1 || parsed.ms > MAX_TIMEOUT_MS) {
    errors.push({ field, message: `--${flag} must be between 1ms and 24h, got "${text ?? ''}"` });
    return 0;
  }
  return parsed.ms;
}

/** Longest --max-session-lifetime: 30 days. */
const MAX_SESSION_LIFETIME_MS = 30 * 24 * 3_600_000;

// Unlike the timeouts above, 0 is allowed here: it means no limit.
function checkLifetime(errors: FieldError[], text: string | undefined): number {
  const parsed = parseDuration(text ?? '');
  if (!parsed.ok) {
    errors.push({ field: 'maxSessionLifetime', message: `--max-session-lifetime: ${parsed.message}` });
    return 0;
  }
  if (parsed.ms !== 0 && (parsed.ms < 1000 || parsed.ms > MAX_SESSION_LIFETIME_MS)) {
    errors.push({ field: 'maxSessionLifetime', message: `--max-session-lifetime must be 0 (no limit) or between 1s and 720h, got "${text ?? ''}"` });
    return 0;
  }
  return parsed.ms;
}

/**
 * Checks completed options and returns every error, or the config.
 * Port 0 for --secure-port picks a free port (tests); --metrics-port 0 disables metrics.
 */
export function validateOptions(o: RawOptions): { config: ServerConfig; errors: [] } | { config: undefined; errors: FieldError[] } {
  const errors: FieldError[] = [];
  const securePort = checkPort(errors, 'securePort', 'secure-port', o.securePort, 0);
  const agentPort = checkPort(errors, 'agentPort', 'agent-port', o.agentPort, 1);
  const metricsPort = checkPort(errors, 'metricsPort', 'metrics-port', o.metricsPort, 0);
  const bindAddress = o.bindAddress ?? '';
  if (isIP(bindAddress) === 0) errors.push({ field: 'bindAddress', message: `--bind-address must be an IP address, got "${bindAddress}"` });
  const tlsCertFile = checkFile(errors, 'tlsCertFile', 'tls-cert-file', o.tlsCertFile, true);
  const tlsPrivateKeyFile = checkFile(errors, 'tlsPrivateKeyFile', 'tls-private-key-file', o.tlsPrivateKeyFile, true);
  const agentCaFile = checkFile(errors, 'agentCaFile', 'agent-ca-file', o.agentCaFile, true);
  const agentClientCertFile = checkFile(errors, 'agentClientCertFile', 'agent-client-cert-file', o.agentClientCertFile, true);
  const agentClientKeyFile = checkFile(errors, 'agentClientKeyFile', 'agent-client-key-file', o.agentClientKeyFile, true);
  const kubeconfig = o.kubeconfig === undefined || o.kubeconfig === '' ? undefined : checkFile(errors, 'kubeconfig', 'kubeconfig', o.kubeconfig, false);
  const agentNamespace = o.agentNamespace ?? '';
  if (!DNS_LABEL.test(agentNamespace)) errors.push({ field: 'agentNamespace', message: `--agent-namespace must be a namespace name, got "${agentNamespace}"` });
  const agentSelector = (o.agentSelector ?? '').trim();
  if (agentSelector === '') errors.push({ field: 'agentSelector', message: '--agent-selector must not be empty: it would match every pod' });
  const agentServerName = o.agentServerName ?? '';
  if (agentServerName === '') errors.push({ field: 'agentServerName', message: '--agent-server-name must not be empty' });
  const allowHostNetworkPods = checkBoolean(errors, 'allowHostNetworkPods', 'allow-host-network-pods', o.allowHostNetworkPods);
  const admissionWebhooks = checkBoolean(errors, 'admissionWebhooks', 'admission-webhooks', o.admissionWebhooks);
  let sandboxedRuntimeHandlers: readonly string[] = [];
  const handlers = parseHandlerPatterns(o.sandboxedRuntimeHandlers ?? '');
  if (handlers.ok) sandboxedRuntimeHandlers = handlers.patterns;
  else for (const e of handlers.errors) errors.push({ field: 'sandboxedRuntimeHandlers', message: `--sandboxed-runtime-handlers: ${e}` });
  let allowedPorts: readonly PortRange[] = [];
  const ranges = parsePortRanges(o.allowedPorts ?? '');
  if (ranges.ok) allowedPorts = ranges.ranges;
  else for (const e of ranges.errors) errors.push({ field: `allowedPorts[${e.index}]`, message: `--allowed-ports: ${e.message}` });
  const logLevel = checkOneOf(errors, 'logLevel', 'log-level', o.logLevel, LOG_LEVELS);
  const maxSessionsPerUser = checkCount(errors, 'maxSessionsPerUser', 'max-sessions-per-user', o.maxSessionsPerUser, 100_000);
  const maxSessionLifetimeMs = checkLifetime(errors, o.maxSessionLifetime);
  const maxConnections = checkCount(errors, 'maxConnections', 'max-connections', o.maxConnections, 1_000_000);
  const tlsHandshakeTimeoutMs = checkTimeout(errors, 'tlsHandshakeTimeout', 'tls-handshake-timeout', o.tlsHandshakeTimeout);
  const requestHeaderTimeoutMs = checkTimeout(errors, 'requestHeaderTimeout', 'request-header-timeout', o.requestHeaderTimeout);
  const requestReadTimeoutMs = checkTimeout(errors, 'requestReadTimeout', 'request-read-timeout', o.requestReadTimeout);
  const keepAliveTimeoutMs = checkTimeout(errors, 'keepAliveTimeout', 'keep-alive-timeout', o.keepAliveTimeout);
  const connectionIdleTimeoutMs = checkTimeout(errors, 'connectionIdleTimeout', 'connection-idle-timeout', o.connectionIdleTimeout);
  // Node refuses to start a server whose header timeout exceeds its request timeout.
  if (requestHeaderTimeoutMs > 0 && requestReadTimeoutMs > 0 && requestHeaderTimeoutMs > requestReadTimeoutMs) {
    errors.push({ field: 'requestReadTimeout', message: `--request-read-timeout (${o.requestReadTimeout ?? ''}) must not be shorter than --request-header-timeout (${o.requestHeaderTimeout ?? ''})` });
  }
  if (errors.length > 0) return { config: undefined, errors };
  const config = {
    securePort,
    bindAddress,
    tlsCertFile,
    tlsPrivateKeyFile,
    agentCaFile,
    agentClientCertFile,
    agentClientKeyFile,
    agentNamespace,
    agentSelector,
    agentPort,
    agentServerName,
    kubeconfig,
    allowHostNetworkPods,
    admissionWebhooks,
    sandboxedRuntimeHandlers,
    allowedPorts,
    metricsPort,
    logLevel,
    maxSessionsPerUser,
    maxSessionLifetimeMs,
    maxConnections,
    tlsHandshakeTimeoutMs,
    requestHeaderTimeoutMs,
    requestReadTimeoutMs,
    keepAliveTimeoutMs,
    connectionIdleTimeoutMs,
  } as Omit<ServerConfig, typeof completed> as ServerConfig;
  return { config, errors: [] };
}

/** argv + environment -> a completed config; throws {@link OptionsError} listing every problem. */
export function buildConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}): ServerConfig {
  const parsed = parseFlags(argv, env);
  const result = validateOptions(completeOptions(parsed.options));
  const errors = [...parsed.errors, ...result.errors];
  if (errors.length > 0 || result.config === undefined) throw new OptionsError(errors);
  return result.config;
}

/** The `--help` text. */
export function usage(): string {
  return `Usage: rpf-server [flags]\n\n${flagUsage(FLAGS, (f) => `; env ${envName(f.flag)}`)}\n`;
}
