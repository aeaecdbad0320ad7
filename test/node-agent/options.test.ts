import { writeFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { AgentOptionsError, buildAgentConfig, completeAgentOptions, parseAgentFlags, usage, validateAgentFlags } from '../../node-agent/options.ts';
import { scratchDir } from '../helpers/scratch-dir.ts';

/** Certificate flags naming readable (dummy) files. */
function certFlags(): string[] {
  const files = scratchDir('rpf-agent-options-');
  for (const name of ['cert', 'key', 'ca']) writeFileSync(path.join(files, name), 'x');
  return [`--tls-cert-file=${files}/cert`, `--tls-private-key-file=${files}/key`, `--client-ca-file=${files}/ca`];
}

/** The field paths of every error argv makes, parse to validate. */
function errorFields(argv: string[]): string[] {
  const parsed = parseAgentFlags(argv);
  return [...parsed.errors, ...validateAgentFlags(completeAgentOptions(parsed.options)).errors].map((e) => e.field).sort();
}

test('every invalid flag is reported at once, each with its field path', (t) => {
  t.deepEqual(errorFields(['--secure-port=x', '--max-sessions=x', '--keepalive-timeout-seconds=3', '--keepalive-interval-seconds=5', '--log-level=loud']), [
    'clientCaFile',
    'keepaliveTimeoutSeconds',
    'logLevel',
    'maxSessions',
    'securePort',
    'tlsCertFile',
    'tlsPrivateKeyFile',
  ]);
});

test('unknown flags and stray arguments are errors of the args field, reported with the rest', (t) => {
  t.deepEqual(errorFields([...certFlags(), '--no-such-flag', 'stray', '--secure-port=70000']), ['args', 'args', 'securePort']);
});

test('buildAgentConfig throws one RPF_ERR_AGENT_INVALID_OPTIONS error carrying every field error', async (t) => {
  const error = await t.throwsAsync(buildAgentConfig(['--max-sessions=0', '--nope']), { instanceOf: AgentOptionsError });
  t.is(error?.code, 'RPF_ERR_AGENT_INVALID_OPTIONS');
  t.deepEqual(error?.errors.map((e) => e.field).sort(), ['args', 'clientCaFile', 'maxSessions', 'tlsCertFile', 'tlsPrivateKeyFile']);
});

test('defaults are valid once readable certificate files are given, and the files are read', async (t) => {
  const flags = certFlags();
  t.deepEqual(errorFields(flags), []);
  const config = await buildAgentConfig(flags);
  t.like(config, { securePort: 8443, metricsPort: 9464, maxSessions: 100, keepaliveIntervalMs: 4000, keepaliveTimeoutMs: 12_000, allowHostNetwork: false, logLevel: 'info' });
  t.deepEqual(config.allowedClientNames, ['rpf-server']);
  t.is(config.tls.cert.toString(), 'x');
});

test('flags take --flag=value, --flag value and a bare boolean', async (t) => {
  const config = await buildAgentConfig([...certFlags(), '--secure-port', '9443', '--allow-host-network', '--allowed-client-names=a, b', '--idle-timeout-seconds=30']);
  t.like(config, { securePort: 9443, allowHostNetwork: true, idleTimeoutMs: 30_000 });
  t.deepEqual(config.allowedClientNames, ['a', 'b']);
});

test('an unreadable certificate file is an error of its field', (t) => {
  t.deepEqual(errorFields(['--tls-cert-file=/no/such/cert', '--tls-private-key-file=/no/such/key', '--client-ca-file=/no/such/ca']), ['clientCaFile', 'tlsCertFile', 'tlsPrivateKeyFile']);
});

test('a --netns-helper given on purpose must be an executable file; the default may be missing', (t) => {
  const certs = certFlags();
  t.deepEqual(errorFields([...certs, '--netns-helper=/no/such/rpf-netns-listen']), ['netnsHelper']);
  const notExecutable = path.join(scratchDir('rpf-agent-options-'), 'rpf-netns-listen');
  writeFileSync(notExecutable, '', { mode: 0o644 });
  t.deepEqual(errorFields([...certs, `--netns-helper=${notExecutable}`]), ['netnsHelper']);
  t.deepEqual(errorFields([...certs, `--netns-helper=${process.execPath}`]), []);
  t.deepEqual(errorFields(certs), []);
});

test('the connection bounds and the pod check have valid defaults and refuse nonsense, each with its field path', (t) => {
  const certs = certFlags();
  t.like(completeAgentOptions(parseAgentFlags(certs).options), {
    tlsHandshakeTimeoutSeconds: '10',
    requestHeaderTimeoutSeconds: '10',
    requestTimeoutSeconds: '30',
    keepAliveTimeoutSeconds: '5',
    maxConnections: '1000',
    podCheckIntervalSeconds: '2',
    maxPeerBacklogBytes: String(16 * 1024 * 1024),
  });
  t.deepEqual(
    errorFields([...certs, '--tls-handshake-timeout-seconds=0', '--request-header-timeout-seconds=20', '--request-timeout-seconds=10', '--max-connections=50', '--max-sessions=100', '--max-peer-backlog-bytes=1024', '--pod-check-interval-seconds=-1']),
    ['maxConnections', 'maxPeerBacklogBytes', 'podCheckIntervalSeconds', 'requestTimeoutSeconds', 'tlsHandshakeTimeoutSeconds'],
  );
});

test('--max-connections defaults to 1000 or twice --max-sessions, whichever is more', async (t) => {
  const certs = certFlags();
  t.is((await buildAgentConfig(certs)).maxConnections, 1000);
  t.is((await buildAgentConfig([...certs, '--max-sessions=5000'])).maxConnections, 10_000);
  t.is((await buildAgentConfig([...certs, '--max-connections=300'])).maxConnections, 300);
});

test('--help is noticed and usage lists every flag', (t) => {
  t.true(parseAgentFlags(['--help']).help);
  for (const flag of ['--secure-port VALUE', '--allow-host-network\n', '--max-peer-backlog-bytes VALUE']) t.true(usage().includes(flag), flag);
});

test('numbers are read as Number() reads them (Helm renders 1000000 as 1e+06); an empty value is an error', (t) => {
  const certs = certFlags();
  t.deepEqual(errorFields([...certs, '--max-peer-backlog-bytes=1.6e+07', '--max-sessions=1e+03']), []);
  t.deepEqual(errorFields([...certs, '--idle-timeout-seconds=', '--max-sessions=1.5']), ['idleTimeoutSeconds', 'maxSessions']);
});
