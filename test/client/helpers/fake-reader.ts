// A KubeReader answering from a table of API paths, recording every call.
import type { KubeReader, PodObject } from '../../../client/index.ts';
import { RpfClientError } from '../../../client/index.ts';

/** What the fake answers: a path (with `?labelSelector=...` for lists) -> object; a function for changing answers. */
export type Routes = Record<string, unknown | (() => unknown)>;

export interface FakeReader extends KubeReader {
  /** Every request, as `path` or `path?query`. */
  readonly calls: string[];
}

/** A reader over `routes`; unknown paths answer 404 (undefined), an RpfClientError value is thrown. */
export function fakeReader(routes: Routes): FakeReader {
  const calls: string[] = [];
  return {
    calls,
    async get<T>(path: string, query?: URLSearchParams): Promise<T | undefined> {
      const key = query === undefined ? path : `${path}?${decodeURIComponent(query.toString()).replace(/\+/g, ' ')}`;
      calls.push(key);
      const route = routes[key];
      const value = typeof route === 'function' ? (route as () => unknown)() : route;
      if (value instanceof RpfClientError) throw value;
      return value as T | undefined;
    },
  };
}

/** A pod object as the API returns it. */
export function pod(name: string, options: { phase?: string; ready?: boolean; readySince?: string; created?: string; restarts?: number; terminating?: boolean; node?: string } = {}): PodObject {
  return {
    metadata: {
      name,
      namespace: 'ns',
      creationTimestamp: options.created ?? '2025-01-01T00:00:00Z',
      ...(options.terminating ? { deletionTimestamp: '2025-01-02T00:00:00Z' } : {}),
    },
    spec: { nodeName: options.node ?? 'node-1' },
    status: {
      phase: options.phase ?? 'Running',
      conditions: [{ type: 'Ready', status: options.ready === false ? 'False' : 'True', lastTransitionTime: options.readySince ?? '2025-01-01T00:01:00Z' }],
      containerStatuses: [{ restartCount: options.restarts ?? 0 }],
    },
  };
}
