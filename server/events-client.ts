/**
 * Creating events.k8s.io/v1 Events (server/pod-events.ts's PodEventsClient)
 * over @kubernetes/client-node, in the way of server/kube-client.ts: a small
 * interface tests replace, and this one implementation.
 */
import { EventsV1Api, V1MicroTime } from '@kubernetes/client-node';
import type { EventsV1Event, KubeConfig } from '@kubernetes/client-node';
import type { PodEvent, PodEventsClient } from './pod-events.ts';

/** The events.k8s.io/v1 object of a {@link PodEvent}. */
export function toEventsV1(event: PodEvent): EventsV1Event {
  return {
    apiVersion: 'events.k8s.io/v1',
    kind: 'Event',
    metadata: { name: event.name, namespace: event.namespace },
    // A MicroTime: kube-apiserver takes exactly six fractional digits, which V1MicroTime writes (a Date writes three).
    eventTime: new V1MicroTime(event.eventTime),
    regarding: { apiVersion: 'v1', kind: 'Pod', namespace: event.namespace, name: event.regarding.name, uid: event.regarding.uid },
    reason: event.reason,
    action: event.action,
    type: event.type,
    note: event.note,
    reportingController: event.reportingController,
    reportingInstance: event.reportingInstance,
  };
}

/** The real {@link PodEventsClient}. */
export function createPodEventsClient(kc: KubeConfig): PodEventsClient {
  const events = kc.makeApiClient(EventsV1Api);
  return {
    async createEvent(event) {
      await events.createNamespacedEvent({ namespace: event.namespace, body: toEventsV1(event) });
    },
  };
}
