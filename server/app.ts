/**
 * Builds rpf-server from a completed config: the HTTPS server (fastify) that
 * kube-apiserver proxies to, its upgrade path, and the metrics server. What
 * varies (kube client, clock, agent dialer, logger, metrics) is injected.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { fastify, LogController } from 'fastify';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { AgentDirectory } from './agent-directory.ts';
import type { AgentPodSource } from './agent-directory.ts';
import type { AdmissionKube } from './admission-kube.ts';
import { createTunnelChecks } from './admission-setup.ts';
import { agentTlsFromFiles, createAgentDialer } from './agent-client.ts';
import type { AgentDialer } from './agent-client.ts';
import { Authorizer } from './authorizer.ts';
import { systemClock } from './clock.ts';
import type { Clock } from './clock.ts';
import { capConnections, clientErrorHandler, fastifyTimeouts, tlsServerTimeouts } from './connection-guards.ts';
import type { ConnectionLimits } from './connection-guards.ts';
import { registerDiscoveryRoutes, UNAUTHENTICATED_PATHS } from './discovery.ts';
import { RpfServerError, toServerError } from './errors.ts';
import { FrontProxyAuthenticator } from './front-proxy-auth.ts';
import type { RequestAuthenticator, UserInfo } from './front-proxy-auth.ts';
import type { KubeClient } from './kube-client.ts';
import { createLogger } from './logging.ts';
import { createMetricsServer, ServerMetrics } from './metrics.ts';
import { registerOpenApiRoutes } from './openapi-routes.ts';
import type { ServerConfig } from './options.ts';
import type { AgentLocation } from './pods.ts';
import { refuseReply } from './refusal.ts';
import { SessionLimiter } from './session-limit.ts';
import { registerSessionRoutes } from './sessions.ts';
import { UpgradeProxy } from './upgrade-proxy.ts';
import { systemTimers } from '../protocol/index.ts';
import type { Timers } from '../protocol/index.ts';
import { GovernanceMetrics } from './governance-metrics.ts';
import { PodEventRecorder } from './pod-events.ts';
import type { PodEventsClient } from './pod-events.ts';
import { Reauthorizer } from './reauthorize.ts';
import { SessionGovernance } from './session-governance.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The user kube-apiserver asserted (undefined on health endpoints). */
    rpfUser: UserInfo | undefined;
  }
}

/** What varies, injected; everything has a production default except the kube client. */
export interface ServerDeps {
  readonly kube: KubeClient;
  /** A watch on the agent pods, to find a node's agent without an API call; without it every tunnel asks the API. */
  readonly agentPods?: AgentPodSource;
  readonly clock?: Clock;
  /** Defaults to mutual TLS with the config's agent files. */
  readonly dialer?: AgentDialer;
  readonly logger?: Logger;
  readonly metrics?: ServerMetrics;
  /** How often the auth ConfigMap and the serving certificate are re-read (ms, default 30 s). */
  readonly refreshMs?: number;
  /** How long an agent may take to answer (ms, default 30 s). */
  readonly agentTimeoutMs?: number;
  /** How long SubjectAccessReview decisions are reused (ms, default 10 s). */
  readonly authorizerTtlMs?: number;
  /**
   * Replaces front-proxy authentication (tests that use inject(), which has no TLS).
   * Defaults to {@link FrontProxyAuthenticator} over the kube client.
   */
  readonly authenticator?: RequestAuthenticator;
  /**
   * What admission webhooks and the sandbox policy read from the API
   * (admission-kube.ts); without it neither runs (tests with a fake kube client).
   */
  readonly admissionKube?: AdmissionKube;
  /** Creates the Events of sessions on their pods; none are recorded without it. */
  readonly events?: PodEventsClient;
  /** Timers of re-authorization and the maximum lifetime (default: the real ones). */
  readonly timers?: Timers;
  /** Time between two re-authorizations of one tunnel (ms, default 20 s: server/reauthorize.ts). */
  readonly reauthorizeIntervalMs?: number;
}

/** A built server, not yet listening. */
export interface RpfServer {
  readonly app: FastifyInstance;
  readonly auth: RequestAuthenticator;
  readonly proxy: UpgradeProxy;
  readonly metrics: ServerMetrics;
  readonly logger: Logger;
  /** Starts loading the auth ConfigMap and listens; resolves with the bound ports. */
  listen(): Promise<{ port: number; metricsPort: number | undefined }>;
  /** Stops listening, ends open tunnels and background work. */
  close(): Promise<void>;
}

function servingMaterial(config: ServerConfig): { key: Buffer; cert: Buffer } {
  return { key: readFileSync(config.tlsPrivateKeyFile), cert: readFileSync(config.tlsCertFile) };
}

/** Builds the server from a completed config. */
export function createRpfServer(config: ServerConfig, deps: ServerDeps): RpfServer {
  const clock = deps.clock ?? systemClock;
  const logger = deps.logger ?? createLogger(config.logLevel);
  const metrics = deps.metrics ?? new ServerMetrics();
  const refreshMs = deps.refreshMs ?? 30_000;
  const agentTimeoutMs = deps.agentTimeoutMs ?? 30_000;
  const dialer =
    deps.dialer ??
    createAgentDialer(
      agentTlsFromFiles(
        { caFile: config.agentCaFile, certFile: config.agentClientCertFile, keyFile: config.agentClientKeyFile, serverName: config.agentServerName },
        clock,
      ),
    );
  const agentDirectory = deps.agentPods === undefined ? undefined : new AgentDirectory(deps.agentPods, { logger });
  const agents: AgentLocation = {
    namespace: config.agentNamespace,
    selector: config.agentSelector,
    port: config.agentPort,
    ...(agentDirectory === undefined ? {} : { directory: agentDirectory }),
  };

  let serving = servingMaterial(config);
  let caPem = '';
  const limits: ConnectionLimits = {
    tlsHandshakeTimeoutMs: config.tlsHandshakeTimeoutMs,
    requestHeaderTimeoutMs: config.requestHeaderTimeoutMs,
    requestReadTimeoutMs: config.requestReadTimeoutMs,
    keepAliveTimeoutMs: config.keepAliveTimeoutMs,
    connectionIdleTimeoutMs: config.connectionIdleTimeoutMs,
    maxConnections: config.maxConnections,
  };
  // Routes do not depend on the raw server's type; the plain FastifyInstance type keeps their signatures simple.
  const app = fastify({
    https: { ...serving, requestCert: true, rejectUnauthorized: false, ...tlsServerTimeouts(limits) },
    ...fastifyTimeouts(limits),
    clientErrorHandler: clientErrorHandler(metrics, limits),
    loggerInstance: logger,
    logController: new LogController({ disableRequestLogging: true }),
    forceCloseConnections: 'idle',
    return503OnClosing: true,
  }) as unknown as FastifyInstance;
  const server = app.server as HttpsServer;
  capConnections(server, limits, metrics, logger);
  // The CA list in the TLS CertificateRequest names the requestheader CA, so front proxies
  // pick the right certificate; the chain is still verified per request (front-proxy-auth).
  const updateSecureContext = (): void => {
    server.setSecureContext({ ...serving, ...(caPem === '' ? {} : { ca: caPem }) });
  };
  const auth: RequestAuthenticator =
    deps.authenticator ??
    new FrontProxyAuthenticator({
      kube: deps.kube,
      clock,
      logger,
      refreshMs,
      onCaChange: (pem) => {
        caPem = pem;
        updateSecureContext();
        logger.info('front-proxy CA bundle loaded');
      },
    });
  const checks = deps.admissionKube === undefined ? undefined : createTunnelChecks(config, deps.admissionKube, logger, clock);
  const authorizer = new Authorizer({ kube: deps.kube, clock, ...(deps.authorizerTtlMs === undefined ? {} : { ttlMs: deps.authorizerTtlMs }) });
  const governanceMetrics = new GovernanceMetrics(metrics.registry);
  const timers = deps.timers ?? systemTimers;
  const reauthorizer = new Reauthorizer({
    authorizer,
    timers,
    logger,
    metrics: governanceMetrics,
    ...(deps.reauthorizeIntervalMs === undefined ? {} : { intervalMs: deps.reauthorizeIntervalMs }),
  });
  // The reportingInstance: a pod's hostname is its name unless the pod sets spec.hostname.
  const events = deps.events === undefined ? undefined : new PodEventRecorder({ client: deps.events, clock, logger, metrics: governanceMetrics, instance: hostname() });
  const governance = new SessionGovernance({ reauthorizer, timers, logger, metrics: governanceMetrics, dialer, agentTimeoutMs, maxSessionLifetimeMs: config.maxSessionLifetimeMs, events });
  const proxy = new UpgradeProxy({
    auth,
    authorizer,
    kube: deps.kube,
    dialer,
    clock,
    logger,
    metrics,
    agents,
    allowedPorts: config.allowedPorts,
    allowHostNetworkPods: config.allowHostNetworkPods,
    sessions: new SessionLimiter(config.maxSessionsPerUser),
    agentTimeoutMs,
    ...(checks === undefined ? {} : checks.deps),
    governance,
  });
  server.on('upgrade', (req, socket: Socket, head: Buffer) => proxy.handleUpgrade(req, socket, head));

  app.decorateRequest('rpfUser', undefined);
  // Every request needs no body: accept any content type and ignore it (kubectl delete sends DeleteOptions).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 1024 * 1024 }, (_req, body, done) => done(null, body));
  app.addHook('onRequest', async (request) => {
    const path = request.url.split('?')[0] ?? '';
    if (UNAUTHENTICATED_PATHS.has(path)) return;
    request.rpfUser = auth.authenticate(request.raw);
  });
  app.addHook('onResponse', async (request, reply) => {
    metrics.requestDuration.observe({ kind: request.method.toLowerCase(), code: String(reply.statusCode) }, reply.elapsedTime / 1000);
  });
  app.setErrorHandler((error, request, reply) => {
    let err = toServerError(error);
    const statusCode = (error as { statusCode?: unknown }).statusCode;
    if (!(error instanceof RpfServerError) && typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) {
      // fastify's own 4xx errors (a body too large...) word their messages for the client.
      err = new RpfServerError('RPF_ERR_SERVER_BAD_REQUEST', `bad request: ${(error as Error).message}`);
    }
    if (err.status >= 500) logger.error({ err: error, url: request.url }, 'request failed');
    return refuseReply(reply, err, metrics);
  });
  app.setNotFoundHandler((request) => {
    throw new RpfServerError('RPF_ERR_SERVER_NOT_FOUND', `the server could not find the requested resource (${request.url.split('?')[0] ?? ''})`);
  });
  registerDiscoveryRoutes(app, { ready: () => auth.ready });
  registerOpenApiRoutes(app, clock);
  registerSessionRoutes(app, { kube: deps.kube, dialer, agents, clock, logger, agentTimeoutMs });

  let metricsServer: HttpServer | undefined;
  let certTimer: NodeJS.Timeout | undefined;

  return {
    app,
    auth,
    proxy,
    metrics,
    logger,
    async listen() {
      auth.start();
      agentDirectory?.start();
      checks?.start();
      // Serving certificates rotate too (cert-manager): re-read them now and then.
      certTimer = setInterval(() => {
        try {
          const next = servingMaterial(config);
          if (!next.cert.equals(serving.cert) || !next.key.equals(serving.key)) {
            serving = next;
            updateSecureContext();
            logger.info('serving certificate reloaded');
          }
        } catch (err) {
          logger.warn({ err }, 'cannot re-read the serving certificate; keeping the old one');
        }
      }, refreshMs);
      certTimer.unref();
      await app.listen({ port: config.securePort, host: config.bindAddress });
      const port = (server.address() as AddressInfo).port;
      let metricsPort: number | undefined;
      if (config.metricsPort > 0) {
        const ms = createMetricsServer(metrics);
        metricsServer = ms;
        await new Promise<void>((resolve, reject) => {
          ms.once('error', reject);
          ms.listen(config.metricsPort, config.bindAddress, () => resolve());
        });
        metricsPort = (ms.address() as AddressInfo).port;
      }
      logger.info({ port, metricsPort }, 'rpf-server listening');
      return { port, metricsPort };
    },
    async close() {
      auth.stop();
      agentDirectory?.stop();
      checks?.stop();
      dialer.close?.();
      if (certTimer !== undefined) clearInterval(certTimer);
      proxy.closeAll();
      reauthorizer.stop();
      const ms = metricsServer;
      await Promise.all([
        app.close(),
        ms === undefined ? Promise.resolve() : new Promise<void>((resolve) => ms.close(() => resolve())),
      ]);
      // The closing Events of the tunnels just ended (their sockets have closed by now), best effort.
      await events?.flush(2000);
    },
  };
}
