/**
 * rpf-server, the aggregated API server of rpf.kube-rpf.dev: wiring and the
 * public surface (for main.ts and tests).
 */
import type { Logger } from 'pino';
import { createRpfServer } from './app.ts';
import type { RpfServer, ServerDeps } from './app.ts';
import { systemClock } from './clock.ts';
import { agentPodInformer } from './agent-pod-informer.ts';
import { createAdmissionKube } from './admission-kube.ts';
import { createKubeClient, loadKubeConfig } from './kube-client.ts';
import { createPodEventsClient } from './events-client.ts';
import { createLogger } from './logging.ts';
import { ServerMetrics } from './metrics.ts';
import { buildConfig } from './options.ts';
import type { ServerConfig } from './options.ts';

export { createRpfServer } from './app.ts';
export type { RpfServer, ServerDeps } from './app.ts';
export { SERVER_ERROR_CODES, RpfServerError } from './errors.ts';
export type { ServerErrorCode, ServerErrorInfo } from './errors.ts';
export { buildConfig, OptionsError, usage, FLAGS } from './options.ts';
export type { ServerConfig } from './options.ts';
export type { KubeClient, PodInfo } from './kube-client.ts';
export type { AgentDialer } from './agent-client.ts';
export type { Clock } from './clock.ts';

/** Builds a production server from a completed config: real kube client, clock, dialer, logger, metrics. */
export function createProductionServer(config: ServerConfig, logger: Logger = createLogger(config.logLevel)): RpfServer {
  const kc = loadKubeConfig(config.kubeconfig);
  const kube = createKubeClient(kc);
  const agentPods = agentPodInformer(kc, config.agentNamespace, config.agentSelector);
  const deps: ServerDeps = {
    kube,
    agentPods,
    clock: systemClock,
    logger,
    metrics: new ServerMetrics(undefined, { defaultMetrics: true }),
    admissionKube: createAdmissionKube(kc),
    events: createPodEventsClient(kc),
  };
  return createRpfServer(config, deps);
}

/** argv and environment -> a running server (throws OptionsError on bad flags). */
export async function run(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): Promise<RpfServer> {
  const server = createProductionServer(buildConfig(argv, env));
  await server.listen();
  return server;
}
