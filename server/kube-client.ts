/**
 * The few kube-apiserver calls rpf-server makes, behind a small interface so
 * tests inject a fake. The implementation wraps @kubernetes/client-node.
 */
import { ApiException, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import type { V1Pod, V1SubjectAccessReview } from '@kubernetes/client-node';
import { createKubeJson, KubeApiError } from './kube-json.ts';

/** What rpf-server needs to know about a pod. */
export interface PodInfo {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  /** `status.phase`, e.g. Running or Pending ('' when unknown). */
  readonly phase: string;
  /** `spec.nodeName` ('' when not scheduled). */
  readonly nodeName: string;
  readonly hostNetwork: boolean;
  /** `status.podIP` ('' when none yet). */
  readonly podIP: string;
  /** The Ready condition is True. */
  readonly ready: boolean;
  /** The pod is being deleted. */
  readonly terminating: boolean;
  /** `spec.runtimeClassName` ('' or absent: the node's default runtime). */
  readonly runtimeClassName?: string;
}

/** The attributes of a SubjectAccessReview (authorization.k8s.io/v1 spec). */
export interface AccessReviewSpec {
  readonly user: string;
  readonly groups: readonly string[];
  readonly uid: string;
  readonly extra: Readonly<Record<string, readonly string[]>>;
  readonly resourceAttributes: {
    readonly namespace: string;
    readonly name: string;
    readonly group: string;
    readonly version: string;
    readonly resource: string;
    readonly subresource: string;
    readonly verb: string;
  };
}

/** The answer of a SubjectAccessReview. */
export interface AccessReviewResult {
  readonly allowed: boolean;
  readonly denied: boolean;
  readonly reason: string;
  readonly evaluationError: string;
}

/** The kube-apiserver calls of rpf-server. Errors other than "not found" are thrown. */
export interface KubeClient {
  /** The pod, or undefined when it does not exist. */
  getPod(namespace: string, name: string): Promise<PodInfo | undefined>;
  /** Pods in a namespace matching a label selector and an optional field selector. */
  listPods(namespace: string, labelSelector: string, fieldSelector?: string): Promise<PodInfo[]>;
  /** A ConfigMap's data, or undefined when it does not exist. */
  getConfigMapData(namespace: string, name: string): Promise<Record<string, string> | undefined>;
  /** Creates a SubjectAccessReview and returns its status. */
  createSubjectAccessReview(spec: AccessReviewSpec): Promise<AccessReviewResult>;
}

/** Converts a client-node pod to {@link PodInfo}. */
export function toPodInfo(pod: V1Pod): PodInfo {
  const ready = (pod.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
  return {
    namespace: pod.metadata?.namespace ?? '',
    name: pod.metadata?.name ?? '',
    uid: pod.metadata?.uid ?? '',
    phase: pod.status?.phase ?? '',
    nodeName: pod.spec?.nodeName ?? '',
    hostNetwork: pod.spec?.hostNetwork === true,
    podIP: pod.status?.podIP ?? '',
    ready,
    terminating: pod.metadata?.deletionTimestamp !== undefined && pod.metadata.deletionTimestamp !== null,
    runtimeClassName: pod.spec?.runtimeClassName ?? '',
  };
}

function isNotFound(err: unknown): boolean {
  return err instanceof ApiException && err.code === 404;
}

/** Loads a kubeconfig file, or the in-cluster configuration when `file` is undefined. */
export function loadKubeConfig(file: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  if (file === undefined) kc.loadFromCluster();
  else kc.loadFromFile(file);
  return kc;
}

/** The real {@link KubeClient}, over @kubernetes/client-node. */
export function createKubeClient(kc: KubeConfig): KubeClient {
  const core = kc.makeApiClient(CoreV1Api);
  // The two calls every tunnel makes go over kube-json.ts (kept alive, no models).
  const json = createKubeJson(kc);
  return {
    async getPod(namespace, name) {
      try {
        return toPodInfo(await json.call<V1Pod>('GET', `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}`));
      } catch (err) {
        if (err instanceof KubeApiError && err.code === 404) return undefined;
        throw err;
      }
    },
    async listPods(namespace, labelSelector, fieldSelector) {
      const list = await core.listNamespacedPod({ namespace, labelSelector, ...(fieldSelector === undefined ? {} : { fieldSelector }) });
      return list.items.map(toPodInfo);
    },
    async getConfigMapData(namespace, name) {
      try {
        const cm = await core.readNamespacedConfigMap({ namespace, name });
        return cm.data ?? {};
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
    async createSubjectAccessReview(spec) {
      const review = await json.call<V1SubjectAccessReview>('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user: spec.user,
          groups: [...spec.groups],
          uid: spec.uid,
          extra: Object.fromEntries(Object.entries(spec.extra).map(([k, v]) => [k, [...v]])),
          resourceAttributes: { ...spec.resourceAttributes },
        },
      });
      const s = review.status;
      return {
        allowed: s?.allowed === true,
        denied: s?.denied === true,
        reason: s?.reason ?? '',
        evaluationError: s?.evaluationError ?? '',
      };
    },
  };
}
