/**
 * Stand-ins for rpf-server's injected dependencies: a kube client with pods,
 * a ConfigMap and SubjectAccessReview answers in memory (recording calls), a
 * settable clock, a logger that keeps its lines, and a header-trusting
 * authenticator for inject()-based tests (inject() has no TLS).
 */
import { Writable } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import { pino } from 'pino';
import type { Logger } from 'pino';
import { distinctHeaders } from '../../../server/front-proxy-auth.ts';
import type { RequestAuthenticator, UserInfo } from '../../../server/front-proxy-auth.ts';
import type { AccessReviewResult, AccessReviewSpec, KubeClient, PodInfo } from '../../../server/kube-client.ts';
import { RpfServerError } from '../../../server/errors.ts';

/** A pod with sensible defaults: Running, Ready, on node-a. */
export function pod(overrides: Partial<PodInfo> & { name: string }): PodInfo {
  return {
    namespace: 'dev',
    uid: `uid-${overrides.name}`,
    phase: 'Running',
    nodeName: 'node-a',
    hostNetwork: false,
    podIP: '10.0.0.10',
    ready: true,
    terminating: false,
    ...overrides,
  };
}

/** An rpf-agent pod on a node. */
export function agentPod(nodeName: string, podIP: string, overrides: Partial<PodInfo> = {}): PodInfo {
  return pod({ name: `rpf-agent-${nodeName}`, namespace: 'kube-rpf', nodeName, podIP, ...overrides });
}

/** The in-memory kube client and what was asked of it. */
export interface FakeKube extends KubeClient {
  pods: PodInfo[];
  configMap: Record<string, string> | undefined;
  /** Decides SubjectAccessReviews; allows everything by default. */
  review: (spec: AccessReviewSpec) => AccessReviewResult | Promise<AccessReviewResult>;
  readonly reviews: AccessReviewSpec[];
  readonly listCalls: { namespace: string; labelSelector: string; fieldSelector: string | undefined }[];
  /** When set, every call throws it. */
  failWith: Error | undefined;
}

/** Allowed. */
export const ALLOW: AccessReviewResult = { allowed: true, denied: false, reason: '', evaluationError: '' };
/** Not allowed, with a reason. */
export const DENY: AccessReviewResult = { allowed: false, denied: false, reason: 'no RBAC policy matched', evaluationError: '' };

/** A fake kube client; field selectors `spec.nodeName=X` are honoured, labels are not. */
export function fakeKube(init: { pods?: PodInfo[]; configMap?: Record<string, string> } = {}): FakeKube {
  const kube: FakeKube = {
    pods: init.pods ?? [],
    configMap: init.configMap,
    review: () => ALLOW,
    reviews: [],
    listCalls: [],
    failWith: undefined,
    async getPod(namespace, name) {
      if (kube.failWith !== undefined) throw kube.failWith;
      return kube.pods.find((p) => p.namespace === namespace && p.name === name);
    },
    async listPods(namespace, labelSelector, fieldSelector) {
      if (kube.failWith !== undefined) throw kube.failWith;
      kube.listCalls.push({ namespace, labelSelector, fieldSelector });
      const node = /^spec\.nodeName=(.*)$/.exec(fieldSelector ?? '')?.[1];
      return kube.pods.filter((p) => p.namespace === namespace && (node === undefined || p.nodeName === node));
    },
    async getConfigMapData(namespace, name) {
      if (kube.failWith !== undefined) throw kube.failWith;
      return namespace === 'kube-system' && name === 'extension-apiserver-authentication' ? kube.configMap : undefined;
    },
    async createSubjectAccessReview(spec) {
      if (kube.failWith !== undefined) throw kube.failWith;
      kube.reviews.push(spec);
      return kube.review(spec);
    },
  };
  return kube;
}

/** A clock tests move by hand. */
export function fakeClock(start = Date.parse('2030-01-01T00:00:00Z')): { now(): number; advance(ms: number): void; set(ms: number): void } {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms), set: (ms) => void (t = ms) };
}

/** A logger whose JSON lines are kept in `lines`. */
export function memoryLogger(level = 'info'): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level }, stream), lines };
}

/** Trusts X-Remote-User / X-Remote-Group (inject() tests only; the real one checks the TLS peer). */
export function headerAuthenticator(): RequestAuthenticator {
  return {
    ready: true,
    start() {},
    stop() {},
    authenticate(req: IncomingMessage): UserInfo {
      const user = req.headers['x-remote-user'];
      if (typeof user !== 'string' || user === '') throw new RpfServerError('RPF_ERR_SERVER_UNAUTHENTICATED', 'Unauthorized');
      return { user, groups: distinctHeaders(req)['x-remote-group'] ?? [], uid: '', extra: {} };
    },
  };
}
