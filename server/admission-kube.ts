/**
 * The kube-apiserver reads that admission and the sandbox policy need, over
 * @kubernetes/client-node: list and watch ValidatingWebhookConfigurations,
 * a namespace's labels, a Service's address, a RuntimeClass's handler. Kept
 * apart from kube-client.ts so that its fakes stay small; tests fake these
 * functions one by one.
 */
import { AdmissionregistrationV1Api, ApiException, CoreV1Api, NodeV1Api, Watch } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import type { NamespaceLabelLookup, ServiceHostLookup } from './admission-webhooks.ts';
import type { RuntimeClassLookup } from './sandbox-policy.ts';
import type { ConfigurationFeed, WatchEvent } from './webhook-configurations.ts';

/** Everything admission and the sandbox policy read from the API. */
export interface AdmissionKube {
  readonly configurations: ConfigurationFeed;
  readonly namespaceLabels: NamespaceLabelLookup;
  readonly serviceHost: ServiceHostLookup;
  readonly runtimeClassHandler: RuntimeClassLookup;
}

const VWC_PATH = '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations';

function isNotFound(err: unknown): boolean {
  return err instanceof ApiException && err.code === 404;
}

/** The real {@link AdmissionKube}. */
export function createAdmissionKube(kc: KubeConfig): AdmissionKube {
  const admission = kc.makeApiClient(AdmissionregistrationV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  const node = kc.makeApiClient(NodeV1Api);
  const watcher = new Watch(kc);
  return {
    configurations: {
      async list() {
        const list = await admission.listValidatingWebhookConfiguration();
        return { items: list.items, resourceVersion: list.metadata?.resourceVersion ?? '' };
      },
      async watch(resourceVersion, onEvent: (event: WatchEvent) => void) {
        let finish: () => void = () => {};
        const done = new Promise<void>((resolve) => (finish = resolve));
        // The API ends a watch after timeoutSeconds at the latest; the cache then lists again.
        const controller = await watcher.watch(
          VWC_PATH,
          { resourceVersion, allowWatchBookmarks: true, timeoutSeconds: 300 },
          (type: string, object: unknown) => onEvent({ type, object }),
          () => finish(),
        );
        return { done, abort: () => controller.abort() };
      },
    },
    async namespaceLabels(name) {
      try {
        const ns = await core.readNamespace({ name });
        return ns.metadata?.labels ?? {};
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
    async serviceHost(namespace, name) {
      try {
        const svc = await core.readNamespacedService({ namespace, name });
        if (svc.spec?.type === 'ExternalName') return svc.spec.externalName;
        const ip = svc.spec?.clusterIP ?? '';
        return ip === '' || ip === 'None' ? undefined : ip;
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
    async runtimeClassHandler(name) {
      try {
        return (await node.readRuntimeClass({ name })).handler;
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
  };
}
