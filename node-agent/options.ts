// rpf-agent's configuration: flags -> complete() (defaults, files read) ->
// validate() (every problem at once) -> a CompletedAgentConfig, the only thing
// that can build an agent.
import { accessSync, constants, existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';

/** Flags as given on the command line. */
export interface AgentFlags {
  'secure-port': string;
  'bind-address': string;
  'tls-cert-file': string;
  'tls-private-key-file': string;
  'client-ca-file': string;
  'allowed-client-names': string;
  'metrics-port': string;
  'proc-root': string;
  nsenter: string;
  'netns-helper': string;
  'max-sessions': string;
  'max-sessions-per-user': string;
  'max-connections-per-session': string;
  'idle-timeout-seconds': string;
  'keepalive-interval-seconds': string;
  'keepalive-timeout-seconds': string;
  'allow-host-network': boolean;
  'log-level': string;
  'pod-check-interval-seconds': string;
  'tls-handshake-timeout-seconds': string;
  'request-header-timeout-seconds': string;
  'request-timeout-seconds': string;
  'keep-alive-timeout-seconds': string;
  'max-connections': string;
  'max-peer-backlog-bytes': string;
}

// Keepalive: a client that goes silent is declared dead after 12 s, so its
// listeners are gone within the 15 s the design promises, cleanup included.
const DEFAULTS: AgentFlags = {
  'secure-port': '8443',
  'bind-address': '0.0.0.0',
  'tls-cert-file': '',
  'tls-private-key-file': '',
  'client-ca-file': '',
  'allowed-client-names': 'rpf-server',
  // 0 turns metrics off, as rpf-server's --metrics-port.
  'metrics-port': '9464',
  'proc-root': '/proc',
  nsenter: 'nsenter',
  // The native helper the image carries; without it (the agent run from
  // source) listeners are opened by nsenter and a Node helper, ~40 ms slower.
  'netns-helper': '/usr/local/bin/rpf-netns-listen',
  'max-sessions': '100',
  'max-sessions-per-user': '50',
  'max-connections-per-session': '1000',
  'idle-timeout-seconds': '0',
  'keepalive-interval-seconds': '4',
  'keepalive-timeout-seconds': '12',
  'allow-host-network': false,
  'log-level': 'info',
  // A deleted pod's session ends within about this long (0: never checked).
  'pod-check-interval-seconds': '2',
  // Bounds from accept (issue 8, finding 2): every pod can reach the agent's
  // port, and a connection that never authenticates must not be held. Only
  // rpf-server talks to the agent, from the cluster network: 10 s for TLS and
  // for the request headers is plenty; 5 s of keep-alive is Node's own default.
  // Upgraded tunnels leave Node's HTTP timers and are not cut by these.
  'tls-handshake-timeout-seconds': '10',
  'request-header-timeout-seconds': '10',
  'request-timeout-seconds': '30',
  'keep-alive-timeout-seconds': '5',
  // Tunnels count too: empty means 1000 or twice --max-sessions, whichever is
  // more, so open sessions never starve rpf-server's listing and deleting.
  'max-connections': '',
  // What one tunnel peer may leave unread in our WebSocket's send buffer
  // before its session is ended (finding 1b): 16 times the 1 MiB message
  // maximum, far above what an honest, reading peer ever leaves.
  'max-peer-backlog-bytes': String(16 * 1024 * 1024),
};

/** The agent's configuration, checked and with its files read. */
export interface CompletedAgentConfig {
  securePort: number;
  bindAddress: string;
  tls: { cert: Buffer; key: Buffer; ca: Buffer };
  allowedClientNames: string[];
  metricsPort: number;
  procRoot: string;
  nsenter: string;
  /** Path of rpf-netns-listen, or undefined when it is not installed. */
  netnsHelper: string | undefined;
  maxSessions: number;
  maxSessionsPerUser: number;
  maxConnectionsPerSession: number;
  idleTimeoutMs: number;
  keepaliveIntervalMs: number;
  keepaliveTimeoutMs: number;
  allowHostNetwork: boolean;
  logLevel: string;
  podCheckIntervalMs: number;
  tlsHandshakeTimeoutMs: number;
  requestHeaderTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  maxConnections: number;
  maxPeerBacklogBytes: number;
}

/** Parses argv into flags; unknown flags are an error (util.parseArgs strict mode). */
export function parseAgentFlags(argv: string[]): AgentFlags {
  const options = Object.fromEntries(
    Object.entries(DEFAULTS).map(([name, value]) => [name, { type: typeof value === 'boolean' ? 'boolean' : 'string' }]),
  ) as Parameters<typeof parseArgs>[0] extends infer T ? (T extends { options?: infer O } ? O : never) : never;
  const { values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false });
  return { ...DEFAULTS, ...(values as Partial<AgentFlags>) };
}

/** Every problem with the flags, as `--flag: what is wrong`. */
export function validateAgentFlags(flags: AgentFlags): string[] {
  const problems: string[] = [];
  const integer = (name: keyof AgentFlags, min: number, max: number) => {
    const value = Number(flags[name]);
    if (!Number.isInteger(value) || value < min || value > max) problems.push(`--${name}: must be an integer from ${min} to ${max}, got "${flags[name]}"`);
  };
  integer('secure-port', 1, 65535);
  integer('metrics-port', 0, 65535);
  integer('max-sessions', 1, 100_000);
  integer('max-sessions-per-user', 1, 100_000);
  integer('max-connections-per-session', 1, 100_000);
  integer('idle-timeout-seconds', 0, 7 * 24 * 3600);
  integer('keepalive-interval-seconds', 1, 3600);
  integer('keepalive-timeout-seconds', 2, 3600);
  integer('pod-check-interval-seconds', 0, 3600);
  integer('tls-handshake-timeout-seconds', 1, 3600);
  integer('request-header-timeout-seconds', 1, 3600);
  integer('request-timeout-seconds', 1, 3600);
  integer('keep-alive-timeout-seconds', 1, 3600);
  if (flags['max-connections'] !== '') integer('max-connections', 2, 1_000_000);
  integer('max-peer-backlog-bytes', 2 * 1024 * 1024, 1024 * 1024 * 1024);
  // Node refuses a server whose header timeout exceeds its request timeout.
  if (Number(flags['request-timeout-seconds']) < Number(flags['request-header-timeout-seconds'])) {
    problems.push('--request-timeout-seconds: must not be shorter than --request-header-timeout-seconds');
  }
  if (flags['max-connections'] !== '' && Number(flags['max-connections']) <= Number(flags['max-sessions'])) {
    problems.push('--max-connections: must be more than --max-sessions (every session holds a connection)');
  }
  if (Number(flags['keepalive-timeout-seconds']) <= Number(flags['keepalive-interval-seconds'])) {
    problems.push('--keepalive-timeout-seconds: must be longer than --keepalive-interval-seconds');
  }
  for (const name of ['tls-cert-file', 'tls-private-key-file', 'client-ca-file'] as const) {
    if (!flags[name]) problems.push(`--${name}: required`);
  }
  if (!flags['allowed-client-names'].trim()) problems.push('--allowed-client-names: at least one name is required');
  // The default may be missing (the agent run from source falls back to
  // nsenter); a path given on purpose must work.
  if (flags['netns-helper'] !== DEFAULTS['netns-helper'] && flags['netns-helper'] !== '' && !isExecutable(flags['netns-helper'])) {
    problems.push(`--netns-helper: ${flags['netns-helper']} is not an executable file`);
  }
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace'].includes(flags['log-level'])) problems.push(`--log-level: unknown level "${flags['log-level']}"`);
  return problems;
}

/** Validates the flags and reads the files they name. */
export async function completeAgentConfig(flags: AgentFlags): Promise<CompletedAgentConfig> {
  const problems = validateAgentFlags(flags);
  if (problems.length > 0) throw new Error(problems.join('\n'));
  const read = async (name: 'tls-cert-file' | 'tls-private-key-file' | 'client-ca-file') => {
    try {
      return await readFile(flags[name]);
    } catch (error) {
      throw new Error(`--${name}: cannot read ${flags[name]}: ${(error as Error).message}`);
    }
  };
  return {
    securePort: Number(flags['secure-port']),
    bindAddress: flags['bind-address'],
    tls: { cert: await read('tls-cert-file'), key: await read('tls-private-key-file'), ca: await read('client-ca-file') },
    allowedClientNames: flags['allowed-client-names'].split(',').map((n) => n.trim()).filter(Boolean),
    metricsPort: Number(flags['metrics-port']),
    procRoot: flags['proc-root'],
    nsenter: flags.nsenter,
    netnsHelper: flags['netns-helper'] && existsSync(flags['netns-helper']) ? flags['netns-helper'] : undefined,
    maxSessions: Number(flags['max-sessions']),
    maxSessionsPerUser: Number(flags['max-sessions-per-user']),
    maxConnectionsPerSession: Number(flags['max-connections-per-session']),
    idleTimeoutMs: Number(flags['idle-timeout-seconds']) * 1000,
    keepaliveIntervalMs: Number(flags['keepalive-interval-seconds']) * 1000,
    keepaliveTimeoutMs: Number(flags['keepalive-timeout-seconds']) * 1000,
    allowHostNetwork: flags['allow-host-network'],
    logLevel: flags['log-level'],
    podCheckIntervalMs: Number(flags['pod-check-interval-seconds']) * 1000,
    tlsHandshakeTimeoutMs: Number(flags['tls-handshake-timeout-seconds']) * 1000,
    requestHeaderTimeoutMs: Number(flags['request-header-timeout-seconds']) * 1000,
    requestTimeoutMs: Number(flags['request-timeout-seconds']) * 1000,
    keepAliveTimeoutMs: Number(flags['keep-alive-timeout-seconds']) * 1000,
    maxConnections: flags['max-connections'] === '' ? Math.max(1000, 2 * Number(flags['max-sessions'])) : Number(flags['max-connections']),
    maxPeerBacklogBytes: Number(flags['max-peer-backlog-bytes']),
  };
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
