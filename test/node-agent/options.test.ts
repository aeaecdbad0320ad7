import { writeFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { completeAgentConfig, parseAgentFlags, validateAgentFlags } from '../../node-agent/options.ts';
import { scratchDir } from '../helpers/scratch-dir.ts';

test('every invalid flag is reported at once, each naming its flag', (t) => {
  const problems = validateAgentFlags(parseAgentFlags(['--secure-port=0', '--max-sessions=x', '--keepalive-timeout-seconds=3', '--keepalive-interval-seconds=5', '--log-level=loud']));
  const flags = problems.map((p) => p.split(':')[0]);
  t.deepEqual(flags.sort(), [
    '--client-ca-file',
    '--keepalive-timeout-seconds',
    '--log-level',
    '--max-sessions',
    '--secure-port',
    '--tls-cert-file',
    '--tls-private-key-file',
  ]);
});

test('an unknown flag is an error', (t) => {
  t.throws(() => parseAgentFlags(['--no-such-flag']));
});

test('defaults are valid once the certificate files are given', (t) => {
  t.deepEqual(validateAgentFlags(parseAgentFlags(['--tls-cert-file=a', '--tls-private-key-file=b', '--client-ca-file=c'])), []);
});

test('a --netns-helper given on purpose must be an executable file; the default may be missing', (t) => {
  const certs = ['--tls-cert-file=a', '--tls-private-key-file=b', '--client-ca-file=c'];
  t.deepEqual(validateAgentFlags(parseAgentFlags([...certs, '--netns-helper=/no/such/rpf-netns-listen'])), [
    '--netns-helper: /no/such/rpf-netns-listen is not an executable file',
  ]);
  const notExecutable = path.join(scratchDir('rpf-agent-options-'), 'rpf-netns-listen');
  writeFileSync(notExecutable, '', { mode: 0o644 });
  t.deepEqual(validateAgentFlags(parseAgentFlags([...certs, `--netns-helper=${notExecutable}`])), [`--netns-helper: ${notExecutable} is not an executable file`]);
  t.deepEqual(validateAgentFlags(parseAgentFlags([...certs, `--netns-helper=${process.execPath}`])), []);
});

test('the connection bounds and the pod check have valid defaults and refuse nonsense, each naming its flag', (t) => {
  const certs = ['--tls-cert-file=a', '--tls-private-key-file=b', '--client-ca-file=c'];
  const flags = parseAgentFlags(certs);
  t.like(flags, {
    'tls-handshake-timeout-seconds': '10',
    'request-header-timeout-seconds': '10',
    'request-timeout-seconds': '30',
    'keep-alive-timeout-seconds': '5',
    'max-connections': '',
    'pod-check-interval-seconds': '2',
    'max-peer-backlog-bytes': String(16 * 1024 * 1024),
  });
  const problems = validateAgentFlags(
    parseAgentFlags([...certs, '--tls-handshake-timeout-seconds=0', '--request-header-timeout-seconds=20', '--request-timeout-seconds=10', '--max-connections=50', '--max-sessions=100', '--max-peer-backlog-bytes=1024', '--pod-check-interval-seconds=-1']),
  );
  t.deepEqual(problems.map((p) => p.split(':')[0]).sort(), [
    '--max-connections',
    '--max-peer-backlog-bytes',
    '--pod-check-interval-seconds',
    '--request-timeout-seconds',
    '--tls-handshake-timeout-seconds',
  ]);
});

test('--max-connections defaults to 1000 or twice --max-sessions, whichever is more', async (t) => {
  const files = scratchDir('rpf-agent-options-');
  for (const name of ['cert', 'key', 'ca']) writeFileSync(path.join(files, name), 'x');
  const certs = [`--tls-cert-file=${files}/cert`, `--tls-private-key-file=${files}/key`, `--client-ca-file=${files}/ca`];
  t.is((await completeAgentConfig(parseAgentFlags(certs))).maxConnections, 1000);
  t.is((await completeAgentConfig(parseAgentFlags([...certs, '--max-sessions=5000']))).maxConnections, 10_000);
  t.is((await completeAgentConfig(parseAgentFlags([...certs, '--max-connections=300']))).maxConnections, 300);
});
