import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildConfig, completeOptions, envName, OptionsError, parseFlags, usage, validateOptions } from '../../server/options.ts';

const dir = mkdtempSync(join(tmpdir(), 'rpf-options-'));
const file = join(dir, 'x.pem');
writeFileSync(file, 'x');
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

const required = [
  `--tls-cert-file=${file}`,
  `--tls-private-key-file=${file}`,
  `--agent-ca-file=${file}`,
  `--agent-client-cert-file=${file}`,
  `--agent-client-key-file=${file}`,
];

function fields(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof OptionsError) return err.errors.map((e) => e.field);
    throw err;
  }
  return [];
}

test('defaults fill every option not given', (t) => {
  const config = buildConfig(required);
  t.is(config.securePort, 8443);
  t.is(config.bindAddress, '0.0.0.0');
  t.is(config.agentNamespace, 'kube-rpf');
  t.is(config.agentSelector, 'app.kubernetes.io/name=rpf-agent');
  t.is(config.agentPort, 8443);
  t.is(config.agentServerName, 'rpf-agent');
  t.is(config.kubeconfig, undefined);
  t.false(config.allowHostNetworkPods);
  t.deepEqual(config.allowedPorts, [{ from: 1, to: 65535 }]);
  t.is(config.metricsPort, 9464);
  t.is(config.logLevel, 'info');
  t.is(config.maxSessionsPerUser, 20);
  t.is(config.maxConnections, 1000);
  t.is(config.tlsHandshakeTimeoutMs, 10_000);
  t.is(config.requestHeaderTimeoutMs, 32_000);
  t.is(config.requestReadTimeoutMs, 60_000);
  t.is(config.keepAliveTimeoutMs, 90_000);
  t.is(config.connectionIdleTimeoutMs, 60_000);
});

test('connection bounds and the session cap take durations and counts', (t) => {
  const config = buildConfig([
    ...required,
    '--max-sessions-per-user=3',
    '--max-connections=50',
    '--tls-handshake-timeout=500ms',
    '--request-header-timeout=5s',
    '--request-read-timeout=1m',
    '--keep-alive-timeout=2m30s',
    '--connection-idle-timeout=1h',
  ]);
  t.is(config.maxSessionsPerUser, 3);
  t.is(config.maxConnections, 50);
  t.is(config.tlsHandshakeTimeoutMs, 500);
  t.is(config.requestHeaderTimeoutMs, 5000);
  t.is(config.requestReadTimeoutMs, 60_000);
  t.is(config.keepAliveTimeoutMs, 150_000);
  t.is(config.connectionIdleTimeoutMs, 3_600_000);
});

test('a bound that is missing, zero, malformed or out of range is an error on its field', (t) => {
  const got = fields(() =>
    buildConfig([
      ...required,
      '--max-sessions-per-user=0',
      '--max-connections=lots',
      '--tls-handshake-timeout=0',
      '--request-header-timeout=10',
      '--keep-alive-timeout=25h',
      '--connection-idle-timeout=-1s',
    ]),
  );
  t.deepEqual(got.sort(), ['connectionIdleTimeout', 'keepAliveTimeout', 'maxConnections', 'maxSessionsPerUser', 'requestHeaderTimeout', 'tlsHandshakeTimeout']);
});

test('a header timeout longer than the read timeout is an error (Node would refuse to start)', (t) => {
  t.deepEqual(fields(() => buildConfig([...required, '--request-header-timeout=2m', '--request-read-timeout=1m'])), ['requestReadTimeout']);
});

test('flags take both --flag=value and --flag value forms, and bare booleans', (t) => {
  const config = buildConfig([...required, '--secure-port', '9443', '--allow-host-network-pods', '--allowed-ports=1024-65535,80', '--log-level=debug']);
  t.is(config.securePort, 9443);
  t.true(config.allowHostNetworkPods);
  t.deepEqual(config.allowedPorts, [{ from: 1024, to: 65535 }, { from: 80, to: 80 }]);
  t.is(config.logLevel, 'debug');
});

test('environment variables back flags that are not given, and flags win over them', (t) => {
  t.is(envName('agent-port'), 'RPF_AGENT_PORT');
  const config = buildConfig([...required, '--agent-port=7000'], { RPF_AGENT_PORT: '9000', RPF_AGENT_NAMESPACE: 'rpf-system' });
  t.is(config.agentPort, 7000);
  t.is(config.agentNamespace, 'rpf-system');
});

test('validation reports every invalid option at once, each with its field path', (t) => {
  const got = fields(() =>
    buildConfig([
      '--secure-port=70000',
      '--agent-port=0',
      '--metrics-port=x',
      '--bind-address=nowhere',
      '--agent-namespace=Not_A_Namespace',
      '--agent-selector=',
      '--agent-server-name=',
      '--allow-host-network-pods=maybe',
      '--allowed-ports=80,90-70,abc',
      '--log-level=loud',
      `--kubeconfig=${join(dir, 'missing')}`,
      '--bogus',
      'stray',
    ]),
  );
  t.deepEqual(got.sort(), [
    'agentCaFile',
    'agentClientCertFile',
    'agentClientKeyFile',
    'agentNamespace',
    'agentPort',
    'agentSelector',
    'agentServerName',
    'allowHostNetworkPods',
    'allowedPorts[1]',
    'allowedPorts[2]',
    'args',
    'args',
    'bindAddress',
    'kubeconfig',
    'logLevel',
    'metricsPort',
    'securePort',
    'tlsCertFile',
    'tlsPrivateKeyFile',
  ]);
});

test('the error thrown for bad options carries the options code', (t) => {
  const err = t.throws(() => buildConfig([]), { instanceOf: OptionsError });
  t.is(err?.code, 'RPF_ERR_SERVER_INVALID_OPTIONS');
});

test('a flag that needs a value and gets none is an error, not a silent default', (t) => {
  const parsed = parseFlags(['--agent-namespace']);
  t.deepEqual(parsed.errors.map((e) => e.field), ['agentNamespace']);
});

test('complete() only fills defaults and validate() alone decides', (t) => {
  const completed = completeOptions({ securePort: '1234' });
  t.is(completed.securePort, '1234');
  t.is(completed.agentPort, '8443');
  t.true(validateOptions(completed).errors.length > 0);
});

test('--help is recognised and the usage lists every flag', (t) => {
  t.true(parseFlags(['--help']).help);
  for (const flag of ['--secure-port', '--agent-ca-file', '--allowed-ports', '--metrics-port', '--kubeconfig', '--max-sessions-per-user', '--max-connections', '--tls-handshake-timeout', '--request-header-timeout', '--request-read-timeout', '--keep-alive-timeout', '--connection-idle-timeout']) {
    t.true(usage().includes(flag));
  }
});
