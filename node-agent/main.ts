#!/usr/bin/env node
// rpf-agent entry point: flags -> completed config -> run; SIGTERM ends every
// session cleanly (GOAWAY to each client) before exiting. Bad flags exit 1
// with one line naming every problem and its field.
import { runAgent } from './index.ts';
import { buildAgentConfig, parseAgentFlags, usage } from './options.ts';

const argv = process.argv.slice(2);
if (parseAgentFlags(argv).help) {
  process.stdout.write(usage());
  process.exit(0);
}
try {
  const config = await buildAgentConfig(argv);
  const running = await runAgent(config);
  const stop = (signal: string) => {
    running.log.info({ signal }, 'rpf-agent shutting down');
    running.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
    setTimeout(() => process.exit(0), 5000).unref();
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
} catch (error) {
  process.stderr.write(`rpf-agent: ${(error as Error).message}\n`);
  process.exit(1);
}
