import test from 'ava';
import { USAGE, parseCommandLine, runCli } from '../../client/index.ts';
import { RpfClientError } from '../../client/index.ts';

test('flags and positionals become library options', (t) => {
  t.deepEqual(
    parseCommandLine(['-n', 'dev', '--context', 'kind', '--kubeconfig', '/k', 'deploy/web', '8080:3000', '9090', '--address', '127.0.0.1,::1', '--address=10.0.0.1', '--pod-running-timeout', '30s', '-v']),
    {
      kind: 'forward',
      options: {
        target: 'deploy/web',
        ports: ['8080:3000', '9090'],
        namespace: 'dev',
        context: 'kind',
        kubeconfig: '/k',
        address: ['127.0.0.1', '::1', '10.0.0.1'],
        podRunningTimeoutMs: 30_000,
        verbose: true,
      },
    },
  );
});

test('--namespace=NS and a port spec after -- are read like kubectl reads them', (t) => {
  const command = parseCommandLine(['--namespace=dev', 'web-1', '--', '8080']);
  t.deepEqual(command, { kind: 'forward', options: { target: 'web-1', ports: ['8080'], namespace: 'dev' } });
});

test('-h and --help ask for the usage, --version for the version', (t) => {
  t.deepEqual(parseCommandLine(['-h']), { kind: 'help' });
  t.deepEqual(parseCommandLine(['pod', '80', '--help']), { kind: 'help' });
  t.deepEqual(parseCommandLine(['--version']), { kind: 'version' });
});

// Each message is the CLI's one `error:` line, kubectl's wording: a user contract, so its text is asserted.
const badArgs: Array<{ name: string; argv: string[]; message: string }> = [
  { name: 'an unknown flag', argv: ['--bogus', 'pod', '80'], message: 'unknown flag: --bogus' },
  { name: 'a flag without its value', argv: ['pod', '80', '-n'], message: 'flag needs an argument: --namespace' },
  { name: 'no target', argv: [], message: 'TYPE/NAME and a list of ports are required for reverse port-forward; see kubectl rpf --help' },
  { name: 'a target without ports', argv: ['pod'], message: 'TYPE/NAME and a list of ports are required for reverse port-forward; see kubectl rpf --help' },
  { name: 'a timeout that is not a duration', argv: ['pod', '80', '--pod-running-timeout', '60'], message: 'invalid argument "60" for --pod-running-timeout: not a duration (like 5s, 2m, or 3h)' },
  { name: 'a zero timeout', argv: ['pod', '80', '--pod-running-timeout', '0s'], message: '--pod-running-timeout must be higher than zero' },
  { name: 'an empty namespace', argv: ['pod', '80', '-n', ''], message: '--namespace must not be empty' },
  {
    name: 'a --reconnect value that is not a boolean',
    argv: ['pod', '80', '--reconnect=no'],
    message: 'invalid argument "no" for "--reconnect" flag: strconv.ParseBool: parsing "no": invalid syntax',
  },
];

test('--reconnect is on by default; --reconnect=false turns it off, a bare --reconnect and Go booleans turn it on, the last one wins', (t) => {
  const reconnect = (argv: string[]) => {
    const command = parseCommandLine(argv);
    return command.kind === 'forward' ? command.options.reconnect : 'not a forward';
  };
  t.is(reconnect(['pod', '80']), undefined, 'unset: the library default (true)');
  t.is(reconnect(['pod', '80', '--reconnect=false']), false);
  t.is(reconnect(['--reconnect=0', 'pod', '80']), false);
  t.is(reconnect(['pod', '80', '--reconnect']), true);
  t.is(reconnect(['pod', '80', '--reconnect=T']), true);
  t.is(reconnect(['pod', '80', '--reconnect=false', '--reconnect']), true);
});

test('--reconnect after -- is a positional, as every flag there', (t) => {
  t.deepEqual(parseCommandLine(['pod', '--', '80', '--reconnect=false']), { kind: 'forward', options: { target: 'pod', ports: ['80', '--reconnect=false'] } });
});

for (const c of badArgs) {
  test(`parseCommandLine rejects ${c.name}`, (t) => {
    const error = t.throws(() => parseCommandLine(c.argv), { instanceOf: RpfClientError });
    t.is(error?.code, 'RPF_ERR_CLIENT_INVALID_ARGS');
    t.is(error?.message, c.message);
  });
}

/** Runs the CLI in-process and captures its lines. */
async function cli(argv: string[]): Promise<{ code: number; stdout: string[]; stderr: string[] }> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const code = await runCli(argv, { stdout: (l) => stdout.push(l), stderr: (l) => stderr.push(l) });
  return { code, stdout, stderr };
}

test('--help prints the usage on stdout and exits 0', async (t) => {
  const { code, stdout, stderr } = await cli(['--help']);
  t.is(code, 0);
  t.is(stdout.join('\n'), USAGE.trimEnd());
  t.deepEqual(stderr, []);
  // The usage line is the CLI's stdout, kubectl's form: a user contract.
  t.regex(USAGE, /kubectl rpf TYPE\/NAME \[options\] REMOTE\[:LOCAL\]/);
});

test('--version prints one line on stdout', async (t) => {
  const { code, stdout } = await cli(['--version']);
  t.is(code, 0);
  // The version line is the CLI's stdout, read by scripts and krew checks: a user contract.
  t.regex(stdout[0] ?? '', /^kubectl-rpf \d+\.\d+\.\d+/);
});

test('a bad command line is one error line on stderr and exit code 1', async (t) => {
  const { code, stdout, stderr } = await cli(['--bogus']);
  t.is(code, 1);
  t.deepEqual(stdout, []);
  // The one `error:` line is the CLI's contract with its user: its text is asserted.
  t.deepEqual(stderr, ['error: unknown flag: --bogus']);
});

test('a bad port spec is one error line quoting the token', async (t) => {
  const { code, stderr } = await cli(['--kubeconfig', '/nonexistent', 'pod/web', '80a:3000']);
  t.is(code, 1);
  t.is(stderr.length, 1);
  // The one `error:` line quoting the token (KEP-5695's grammar): a user contract.
  t.true(stderr[0]?.startsWith('error: invalid port spec "80a:3000": '));
});

test('an unreadable kubeconfig is one error line', async (t) => {
  const { code, stderr } = await cli(['--kubeconfig', '/nonexistent/kubeconfig', 'pod/web', '8080']);
  t.is(code, 1);
  t.is(stderr.length, 1);
  // The one `error:` line, naming the file: a user contract.
  t.true(stderr[0]?.startsWith('error: cannot load kubeconfig /nonexistent/kubeconfig: '));
});
