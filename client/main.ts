#!/usr/bin/env node
// kubectl-rpf: the kubectl plugin's entry point. Wires the process (argv,
// stdout, stderr, signals, exit code) to runCli; nothing else lives here.
// No top-level await: the same file is the ES module `npm install -g` runs
// and, bundled by release/bundle.ts, the CommonJS main script of the single
// executable; both run it by loading it, which calls main() below.

import module from 'node:module';

// `#!/usr/bin/env node` runs whatever Node.js is first on PATH. An older one
// would fail on the first import with a SyntaxError; say what is wrong instead.
// (Checked before anything else is imported; 22.12 has util.getSystemErrorMessage.)
const MINIMUM_NODE = [22, 12] as const;

/** Runs kubectl-rpf with this process's arguments, streams and signals, and exits with its code. */
export async function main(): Promise<void> {
  const [major = 0, minor = 0] = process.version.slice(1).split('.').map(Number);
  if (major < MINIMUM_NODE[0] || (major === MINIMUM_NODE[0] && minor < MINIMUM_NODE[1])) {
    process.stderr.write(`error: kubectl-rpf needs Node.js ${MINIMUM_NODE.join('.')} or newer; ${process.execPath} is ${process.version}\n`);
    process.exit(1);
  }

  // V8's code cache on disk: the next `kubectl rpf` starts without compiling its
  // modules again.
  module.enableCompileCache?.();
  const { runCli } = await import('./cli.ts');

  const controller = new AbortController();
  let signalled = 0;
  const onSignal = (name: NodeJS.Signals): void => {
    signalled++;
    // A second Ctrl-C does not wait for the clean close.
    if (signalled > 1) process.exit(130);
    controller.abort(new Error(`received ${name}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // A closed pipe on stdout (`kubectl rpf ... | head -1`) must not crash the tunnel.
  process.stdout.on('error', () => {});
  process.stderr.on('error', () => {});

  const code = await runCli(process.argv.slice(2), {
    stdout: (line) => process.stdout.write(`${line}\n`),
    stderr: (line) => process.stderr.write(`${line}\n`),
    signal: controller.signal,
  });
  process.exitCode = code;
  // Exit explicitly once the output is written, never by the event loop running
  // dry: Node's teardown after a natural exit waits for every request still
  // registered on a closed TLS socket, and we caught it spinning there for
  // minutes (a CPU-bound process that ignores Ctrl-C), while process.exit()
  // skips that teardown. A pooled API connection must not hold the exit either.
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
  // A reader that never drains an asynchronous pipe (macOS) must not hold us either.
  setTimeout(() => process.exit(code), 1000).unref();
}

// runCli turns every failure into one `error:` line; this only catches a
// failure to load the CLI itself.
main().catch((error: unknown) => {
  process.stderr.write(`error: ${(error as Error)?.stack ?? String(error)}\n`);
  process.exit(1);
});
