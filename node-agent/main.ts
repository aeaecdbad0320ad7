#!/usr/bin/env node
// rpf-agent entry point: flags in, agent running, SIGTERM ends every session
// cleanly (GOAWAY to each client) before exiting.
import { completeAgentConfig, parseAgentFlags, runAgent } from './index.ts';

try {
  const config = await completeAgentConfig(parseAgentFlags(process.argv.slice(2)));
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
