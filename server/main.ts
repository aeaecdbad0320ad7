/**
 * rpf-server entry point: flags -> config -> run; SIGTERM/SIGINT close
 * gracefully. Bad flags exit 2 with one line per problem on stderr.
 */
import { OptionsError, run, usage } from './index.ts';
import type { RpfServer } from './index.ts';

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(usage());
    return;
  }
  let server: RpfServer;
  try {
    server = await run(argv, process.env);
  } catch (err) {
    if (err instanceof OptionsError) {
      process.stderr.write(`rpf-server: ${err.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`rpf-server: ${(err as Error).message}\n`);
    process.exit(1);
  }
  let closing = false;
  const shutdown = (signal: string): void => {
    if (closing) return;
    closing = true;
    server.logger.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        server.logger.error({ err }, 'error while shutting down');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

void main();
