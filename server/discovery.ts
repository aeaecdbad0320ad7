/**
 * Discovery documents (legacy APIGroupList / APIGroup / APIResourceList and
 * aggregated discovery v2) and health endpoints. The OpenAPI documents are
 * served by openapi-routes.ts.
 */
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GROUP, GROUP_VERSION, SESSION_KIND, SESSIONS_RESOURCE, SUBRESOURCE, SUBRESOURCE_KIND, VERSION } from './constants.ts';
import { findAs, formatAs, parseAccept, sendTyped } from './media-type.ts';

/** A resource as APIResourceList lists it (meta/v1 APIResource). */
interface ApiResource {
  readonly name: string;
  readonly singularName: string;
  readonly namespaced: boolean;
  readonly kind: string;
  readonly verbs: readonly string[];
  readonly shortNames?: readonly string[];
  readonly categories?: readonly string[];
}

/** The resources of rpf.kube-rpf.dev/v1alpha1. */
export const API_RESOURCES: readonly ApiResource[] = [
  { name: `pods/${SUBRESOURCE}`, singularName: '', namespaced: true, kind: SUBRESOURCE_KIND, verbs: ['create', 'get'] },
  {
    name: SESSIONS_RESOURCE,
    singularName: 'reverseportforward',
    namespaced: true,
    kind: SESSION_KIND,
    verbs: ['delete', 'get', 'list'],
    shortNames: ['rpf'],
  },
];

/** `GET /apis/rpf.kube-rpf.dev/v1alpha1`. */
export function apiResourceList(): object {
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: GROUP_VERSION, resources: API_RESOURCES };
}

function groupBody(): object {
  const version = { groupVersion: GROUP_VERSION, version: VERSION };
  return { name: GROUP, versions: [version], preferredVersion: version };
}

/** `GET /apis/rpf.kube-rpf.dev`. */
export function apiGroup(): object {
  return { kind: 'APIGroup', apiVersion: 'v1', ...groupBody() };
}

/** `GET /apis` (legacy form). */
export function apiGroupList(): object {
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: [groupBody()] };
}

/** The versions of aggregated discovery rpf-server speaks. */
export const AGGREGATED_VERSIONS = ['v2', 'v2beta1'] as const;

/**
 * `GET /apis` in aggregated discovery form. Subresources sit under their
 * parent; a parent we do not serve (pods) gets an entry without verbs and an
 * empty responseKind, exactly as kube-apiserver converts it
 * (ConvertGroupVersionIntoToDiscovery).
 */
export function aggregatedDiscovery(version: (typeof AGGREGATED_VERSIONS)[number]): object {
  const scopeOf = (r: ApiResource): string => (r.namespaced ? 'Namespaced' : 'Cluster');
  const resources: Record<string, unknown>[] = [];
  const parents = new Map<string, Record<string, unknown>>();
  for (const r of API_RESOURCES.filter((x) => !x.name.includes('/'))) {
    const entry: Record<string, unknown> = {
      resource: r.name,
      responseKind: { group: GROUP, version: VERSION, kind: r.kind },
      scope: scopeOf(r),
      singularResource: r.singularName,
      verbs: r.verbs,
    };
    if (r.shortNames !== undefined) entry['shortNames'] = r.shortNames;
    if (r.categories !== undefined) entry['categories'] = r.categories;
    resources.push(entry);
    parents.set(r.name, entry);
  }
  for (const r of API_RESOURCES.filter((x) => x.name.includes('/'))) {
    const [parentName = '', sub = ''] = r.name.split('/', 2);
    let parent = parents.get(parentName);
    if (parent === undefined) {
      parent = { resource: parentName, responseKind: { group: '', version: '', kind: '' }, scope: scopeOf(r), singularResource: '', verbs: [] };
      resources.push(parent);
      parents.set(parentName, parent);
    }
    const subresources = (parent['subresources'] ??= []) as unknown[];
    subresources.push({ subresource: sub, responseKind: { group: GROUP, version: VERSION, kind: r.kind }, verbs: r.verbs });
  }
  return {
    kind: 'APIGroupDiscoveryList',
    apiVersion: `apidiscovery.k8s.io/${version}`,
    metadata: {},
    items: [{ metadata: { name: GROUP }, versions: [{ version: VERSION, resources, freshness: 'Current' }] }],
  };
}

/** Sends a JSON document with an ETag; answers 304 when the client already has it. */
function sendDocument(request: FastifyRequest, reply: FastifyReply, contentType: string, doc: object): FastifyReply {
  const body = JSON.stringify(doc);
  const etag = `"${createHash('sha256').update(contentType).update(body).digest('hex').slice(0, 32)}"`;
  reply.header('etag', etag).header('vary', 'Accept').header('cache-control', 'no-cache, private');
  if (request.headers['if-none-match'] === etag) return reply.code(304).send();
  return sendTyped(reply.code(200), contentType, body);
}

/** What the health endpoints consult. */
export interface HealthChecks {
  /** True once the server can authenticate requests (the auth ConfigMap was loaded). */
  ready(): boolean;
}

/** Registers /apis, /apis/GROUP, /apis/GROUP/VERSION, /healthz, /livez and /readyz. */
export function registerDiscoveryRoutes(app: FastifyInstance, health: HealthChecks): void {
  app.get('/apis', (request, reply) => {
    const ranges = parseAccept(request.headers.accept);
    for (const v of AGGREGATED_VERSIONS) {
      if (findAs(ranges, 'APIGroupDiscoveryList', 'apidiscovery.k8s.io', [v]) !== undefined) {
        return sendDocument(request, reply, formatAs('APIGroupDiscoveryList', 'apidiscovery.k8s.io', v), aggregatedDiscovery(v));
      }
    }
    return sendDocument(request, reply, 'application/json', apiGroupList());
  });
  app.get(`/apis/${GROUP}`, (request, reply) => sendDocument(request, reply, 'application/json', apiGroup()));
  app.get(`/apis/${GROUP}/${VERSION}`, (request, reply) => sendDocument(request, reply, 'application/json', apiResourceList()));
  const ok = (_request: FastifyRequest, reply: FastifyReply): FastifyReply => reply.type('text/plain; charset=utf-8').send('ok');
  app.get('/healthz', ok);
  app.get('/livez', ok);
  app.get('/readyz', (request, reply) => {
    if (health.ready()) return ok(request, reply);
    return reply.code(503).type('text/plain; charset=utf-8').send('not ready: the front-proxy authentication ConfigMap was not loaded yet');
  });
}

/** Paths that need no authentication (kubelet probes carry no certificate). */
export const UNAUTHENTICATED_PATHS: ReadonlySet<string> = new Set(['/healthz', '/livez', '/readyz']);
