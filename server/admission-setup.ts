/**
 * Wires the checks a tunnel passes beyond RBAC from a completed config: the
 * sandbox policy (always; an empty --sandboxed-runtime-handlers makes it a
 * no-op) and the validating admission webhooks (unless --admission-webhooks
 * is false), with the watch of ValidatingWebhookConfigurations that
 * listen() starts and close() stops.
 */
import type { Logger } from 'pino';
import type { AdmissionKube } from './admission-kube.ts';
import { AdmissionWebhooks } from './admission-webhooks.ts';
import type { TunnelAdmission } from './admission-webhooks.ts';
import type { Clock } from './clock.ts';
import type { ServerConfig } from './options.ts';
import { SandboxPolicy } from './sandbox-policy.ts';
import { createWebhookCaller } from './webhook-client.ts';
import type { WebhookCaller } from './webhook-client.ts';
import { WebhookConfigurations } from './webhook-configurations.ts';

/** The admission pieces of one server. */
export interface TunnelChecks {
  /** For TunnelAuthorizationDeps. */
  readonly deps: { readonly admission?: TunnelAdmission; readonly sandbox: SandboxPolicy };
  /** The webhook configurations, when admission is on (tests read `synced`). */
  readonly configurations: WebhookConfigurations | undefined;
  start(): void;
  stop(): void;
}

/** Builds the checks; `caller` defaults to HTTPS (webhook-client.ts). */
export function createTunnelChecks(
  config: Pick<ServerConfig, 'admissionWebhooks' | 'sandboxedRuntimeHandlers'>,
  kube: AdmissionKube,
  logger: Logger,
  clock: Clock,
  caller: WebhookCaller = createWebhookCaller(),
): TunnelChecks {
  const sandbox = new SandboxPolicy({ patterns: config.sandboxedRuntimeHandlers, lookup: kube.runtimeClassHandler, clock });
  if (!config.admissionWebhooks) {
    return { deps: { sandbox }, configurations: undefined, start() {}, stop() {} };
  }
  const configurations = new WebhookConfigurations({ feed: kube.configurations, logger });
  const admission = new AdmissionWebhooks({ source: configurations, namespaceLabels: kube.namespaceLabels, serviceHost: kube.serviceHost, caller, logger });
  return {
    deps: { admission, sandbox },
    configurations,
    start: () => configurations.start(),
    stop: () => configurations.stop(),
  };
}
