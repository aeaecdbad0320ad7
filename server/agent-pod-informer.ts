/**
 * The real {@link AgentPodSource}: @kubernetes/client-node's informer
 * (list, then watch from its resourceVersion, relisting after a 410) on the
 * agent pods of the release namespace, selected by label.
 */
import { CoreV1Api, makeInformer } from '@kubernetes/client-node';
import type { KubeConfig, V1Pod } from '@kubernetes/client-node';
import type { AgentPodSource } from './agent-directory.ts';
import { toPodInfo } from './kube-client.ts';

/** Watches the pods matching `labelSelector` in `namespace`. */
export function agentPodInformer(kc: KubeConfig, namespace: string, labelSelector: string): AgentPodSource {
  const core = kc.makeApiClient(CoreV1Api);
  let informer: ReturnType<typeof makeInformer<V1Pod>> | undefined;
  return {
    start(onPods, onError) {
      const current = makeInformer<V1Pod>(kc, `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`, () => core.listNamespacedPod({ namespace, labelSelector }), labelSelector);
      informer = current;
      const publish = (): void => onPods(current.list(namespace).map(toPodInfo));
      for (const verb of ['add', 'update', 'delete'] as const) current.on(verb, publish);
      current.on('error', onError);
      current.start().then(publish, onError);
    },
    stop() {
      void informer?.stop().catch(() => {});
      informer = undefined;
    },
  };
}
