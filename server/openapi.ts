/**
 * The OpenAPI documents of rpf.kube-rpf.dev/v1alpha1, generated from the type
 * definitions in api-types.ts: v2 (`/openapi/v2`), which kube-apiserver
 * merges into its own, and v3 (`/openapi/v3/apis/rpf.kube-rpf.dev/v1alpha1`),
 * which it serves as we wrote it and which `kubectl explain` reads. Pure.
 *
 * Shaped as kube-apiserver's own documents are, because kubectl relies on
 * the shape: every operation on reverseportforwards names the kind it serves
 * in `x-kubernetes-group-version-kind` (kubectl explain finds a resource's
 * kind there, then the schema carrying the same extension), and says what it
 * does in `x-kubernetes-action`.
 */
import { API_TYPES, CONNECT_PARAMETERS, gvk } from './api-types.ts';
import type { FieldSchema, GroupVersionKind, ItemSchema, TypeName, TypeSchema } from './api-types.ts';
import { API_PREFIX, GROUP, SESSION_KIND, SESSION_LIST_KIND, SESSIONS_RESOURCE, SUBRESOURCE, SUBRESOURCE_KIND, VERSION } from './constants.ts';
import { META_V1_DEFINITIONS } from './openapi-meta-v2.ts';
import { META_V1, META_V1_SCHEMAS } from './openapi-meta-v3.ts';
import type { JsonSchema } from './openapi-meta-v3.ts';

/** The prefix of our schema names: the group reversed, as kube-apiserver names custom resources' schemas. */
export const SCHEMA_PREFIX = `${GROUP.split('.').reverse().join('.')}.${VERSION}`;

/** The full schema name of one of our types (`dev.kube-rpf.rpf.v1alpha1.ReversePortForward`). */
export function schemaName(type: TypeName): string {
  return `${SCHEMA_PREFIX}.${type}`;
}

/** The v3 index path of our group version, as kube-apiserver lists it under /openapi/v3. */
export const V3_GROUP_VERSION_PATH = `apis/${GROUP}/${VERSION}`;

/** The two flavours differ in where schemas live and how a described reference is written. */
interface Flavour {
  ref(fullName: string): string;
  /** A field that refers to another schema and has its own description. */
  describedRef(fullName: string, description: string): Record<string, unknown>;
}

const V2: Flavour = {
  ref: (name) => `#/definitions/${name}`,
  // kube-apiserver's v2 writes the description beside the $ref.
  describedRef: (name, description) => ({ $ref: `#/definitions/${name}`, description }),
};

const V3: Flavour = {
  ref: (name) => `#/components/schemas/${name}`,
  // OpenAPI 3.0 ignores siblings of $ref; allOf keeps the field's own description (kubectl explain prints both).
  describedRef: (name, description) => ({ allOf: [{ $ref: `#/components/schemas/${name}` }], description }),
};

function integerSchema(s: { readonly format: string; readonly minimum?: number; readonly maximum?: number }): Record<string, unknown> {
  const out: Record<string, unknown> = { type: 'integer', format: s.format };
  if (s.minimum !== undefined) out['minimum'] = s.minimum;
  if (s.maximum !== undefined) out['maximum'] = s.maximum;
  return out;
}

function itemSchema(item: ItemSchema, f: Flavour): Record<string, unknown> {
  if ('ref' in item) return { $ref: f.ref(schemaName(item.ref)) };
  if (item.type === 'integer') return integerSchema(item);
  return { type: 'string' };
}

function fieldSchema(field: FieldSchema, f: Flavour): Record<string, unknown> {
  if ('ref' in field) return f.describedRef(schemaName(field.ref), field.description);
  if ('meta' in field) return f.describedRef(`${META_V1}.${field.meta}`, field.description);
  if (field.type === 'array') return { type: 'array', items: itemSchema(field.items, f), description: field.description };
  if (field.type === 'integer') return { ...integerSchema(field), description: field.description };
  return { type: 'string', description: field.description };
}

function typeSchema(type: TypeSchema, f: Flavour): Record<string, unknown> {
  const properties: Record<string, unknown> = {};
  for (const [name, field] of Object.entries(type.properties)) properties[name] = fieldSchema(field, f);
  const out: Record<string, unknown> = { description: type.description, type: 'object', properties };
  // Both OpenAPI versions forbid an empty required list.
  if (type.required.length > 0) out['required'] = type.required;
  if (type.kind !== undefined) out['x-kubernetes-group-version-kind'] = [gvk(type.kind)];
  return out;
}

/** Our schemas by full name, in one flavour. */
function ourSchemas(f: Flavour): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, type] of Object.entries(API_TYPES) as [TypeName, TypeSchema][]) out[schemaName(name)] = typeSchema(type, f);
  return out;
}

/** A parameter, before it is written in one flavour. */
interface Parameter {
  readonly name: string;
  readonly in: 'path' | 'query';
  readonly description: string;
  readonly required: boolean;
  /** Absent for path parameters (strings). */
  readonly items?: ItemSchema;
  readonly maxItems?: number;
}

/** A response, before it is written in one flavour. */
interface Response {
  readonly code: string;
  readonly description: string;
  /** Full schema name of the body, if it has one. */
  readonly schema?: string;
}

/** An operation, before it is written in one flavour. */
interface Operation {
  readonly method: 'get' | 'delete';
  readonly operationId: string;
  readonly description: string;
  readonly action: 'list' | 'get' | 'delete' | 'connect';
  readonly kind: GroupVersionKind;
  readonly responses: readonly Response[];
  /** What the operation answers with (v2 `produces`, v3 response content types). */
  readonly produces: readonly string[];
}

interface PathItem {
  readonly path: string;
  readonly parameters: readonly Parameter[];
  readonly operations: readonly Operation[];
}

// Operation ids and tags follow kube-apiserver's pattern (listCoordinationV1NamespacedLease, coordination_v1).
const GROUP_WORDS = GROUP.split(/[.-]/);
const GV_ID = `${GROUP_WORDS.map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('')}${VERSION.charAt(0).toUpperCase()}${VERSION.slice(1)}`;
const TAG = `${GROUP_WORDS.map((w, i) => (i === 0 ? w : w.charAt(0).toUpperCase() + w.slice(1))).join('')}_${VERSION}`;

const NAMESPACE: Parameter = { name: 'namespace', in: 'path', required: true, description: 'object name and auth scope, such as for teams and projects' };
const UNAUTHORIZED: Response = { code: '401', description: 'Unauthorized' };
const JSON_ONLY = ['application/json'] as const;

/** The paths rpf-server serves in the group version. */
function pathItems(): PathItem[] {
  const sessionKind = gvk(SESSION_KIND);
  const list: Response = { code: '200', description: 'OK', schema: schemaName(SESSION_LIST_KIND) };
  return [
    {
      path: `${API_PREFIX}/${SESSIONS_RESOURCE}`,
      parameters: [],
      operations: [
        {
          method: 'get',
          operationId: `list${GV_ID}${SESSION_KIND}ForAllNamespaces`,
          description: `list objects of kind ${SESSION_KIND}: the active sessions in all namespaces (watch is not supported)`,
          action: 'list',
          kind: sessionKind,
          responses: [list, UNAUTHORIZED],
          produces: JSON_ONLY,
        },
      ],
    },
    {
      path: `${API_PREFIX}/namespaces/{namespace}/${SESSIONS_RESOURCE}`,
      parameters: [NAMESPACE],
      operations: [
        {
          method: 'get',
          operationId: `list${GV_ID}Namespaced${SESSION_KIND}`,
          description: `list objects of kind ${SESSION_KIND}: the active sessions in the namespace (watch is not supported)`,
          action: 'list',
          kind: sessionKind,
          responses: [list, UNAUTHORIZED],
          produces: JSON_ONLY,
        },
      ],
    },
    {
      path: `${API_PREFIX}/namespaces/{namespace}/${SESSIONS_RESOURCE}/{name}`,
      parameters: [{ name: 'name', in: 'path', required: true, description: `name of the ${SESSION_KIND}` }, NAMESPACE],
      operations: [
        {
          method: 'get',
          operationId: `read${GV_ID}Namespaced${SESSION_KIND}`,
          description: `read the specified ${SESSION_KIND}`,
          action: 'get',
          kind: sessionKind,
          responses: [{ code: '200', description: 'OK', schema: schemaName(SESSION_KIND) }, UNAUTHORIZED],
          produces: JSON_ONLY,
        },
        {
          method: 'delete',
          operationId: `delete${GV_ID}Namespaced${SESSION_KIND}`,
          description: `delete a ${SESSION_KIND}: ends the session and closes its listeners in the pod`,
          action: 'delete',
          kind: sessionKind,
          responses: [{ code: '200', description: 'OK', schema: `${META_V1}.Status` }, UNAUTHORIZED],
          produces: JSON_ONLY,
        },
      ],
    },
    {
      path: `${API_PREFIX}/namespaces/{namespace}/pods/{name}/${SUBRESOURCE}`,
      parameters: [
        { name: 'name', in: 'path', required: true, description: 'name of the Pod' },
        NAMESPACE,
        ...CONNECT_PARAMETERS.map((p): Parameter => ({ name: p.name, in: 'query', description: p.description, required: p.required, items: p.items, maxItems: p.maxItems })),
      ],
      operations: [
        {
          method: 'get',
          operationId: `connect${GV_ID}GetNamespacedPod${SUBRESOURCE.charAt(0).toUpperCase()}${SUBRESOURCE.slice(1)}`,
          description:
            'connect GET requests to reverseportforward of Pod: a WebSocket upgrade opens a reverse port-forward session (listeners inside the pod whose connections are carried to the client; kubectl rpf). Without an upgrade, lists the active sessions on the pod.',
          action: 'connect',
          kind: gvk(SUBRESOURCE_KIND),
          responses: [
            { code: '101', description: 'Switching Protocols: the listeners are open and the tunnel begins (Sec-WebSocket-Protocol names the tunnel protocol version)' },
            { code: '200', description: 'OK: without an upgrade, the active sessions on the pod', schema: schemaName(SESSION_LIST_KIND) },
            UNAUTHORIZED,
          ],
          produces: ['*/*'],
        },
      ],
    },
  ];
}

function v2Parameter(p: Parameter): Record<string, unknown> {
  const out: Record<string, unknown> = { name: p.name, in: p.in, description: p.description, required: p.required };
  if (p.items === undefined) return { ...out, type: 'string', uniqueItems: true };
  return { ...out, type: 'array', items: itemSchema(p.items, V2), collectionFormat: 'multi', maxItems: p.maxItems };
}

function v3Parameter(p: Parameter): Record<string, unknown> {
  const out: Record<string, unknown> = { name: p.name, in: p.in, description: p.description, required: p.required };
  if (p.items === undefined) return { ...out, schema: { type: 'string', uniqueItems: true } };
  return { ...out, style: 'form', explode: true, schema: { type: 'array', items: itemSchema(p.items, V3), maxItems: p.maxItems } };
}

function extensions(op: Operation): Record<string, unknown> {
  return { 'x-kubernetes-action': op.action, 'x-kubernetes-group-version-kind': op.kind };
}

function v2Operation(op: Operation): Record<string, unknown> {
  const responses: Record<string, unknown> = {};
  for (const r of op.responses) responses[r.code] = r.schema === undefined ? { description: r.description } : { description: r.description, schema: { $ref: V2.ref(r.schema) } };
  return {
    description: op.description,
    operationId: op.operationId,
    consumes: ['*/*'],
    produces: op.produces,
    schemes: ['https'],
    tags: [TAG],
    responses,
    ...extensions(op),
  };
}

function v3Operation(op: Operation): Record<string, unknown> {
  const responses: Record<string, unknown> = {};
  for (const r of op.responses) {
    if (r.schema === undefined) {
      responses[r.code] = { description: r.description };
      continue;
    }
    const content: Record<string, unknown> = {};
    for (const type of op.produces) content[type] = { schema: { $ref: V3.ref(r.schema) } };
    responses[r.code] = { description: r.description, content };
  }
  return { description: op.description, operationId: op.operationId, tags: [TAG], responses, ...extensions(op) };
}

function paths(write: (op: Operation) => Record<string, unknown>, param: (p: Parameter) => Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const item of pathItems()) {
    const entry: Record<string, unknown> = {};
    for (const op of item.operations) entry[op.method] = write(op);
    if (item.parameters.length > 0) entry['parameters'] = item.parameters.map(param);
    out[item.path] = entry;
  }
  return out;
}

/**
 * The document's info. The description names the OpenAPI version it was
 * written for: a v3 that kube-aggregator converted from our v2 keeps the v2's
 * (see openapi-meta-v2.ts), so one can tell which of the two kube-apiserver serves.
 */
function info(openApiVersion: 'v2' | 'v3'): Record<string, unknown> {
  return {
    title: `${GROUP} (kube-rpf)`,
    version: VERSION,
    description: `Reverse port-forward sessions (kube-rpf), as rpf-server publishes them in its OpenAPI ${openApiVersion} document.`,
  };
}

/** The OpenAPI v2 document, self-contained (see openapi-meta-v2.ts for why). */
export function openApiV2(): Record<string, unknown> {
  const definitions: Record<string, JsonSchema> = { ...(ourSchemas(V2) as Record<string, JsonSchema>), ...META_V1_DEFINITIONS };
  return { swagger: '2.0', info: info('v2'), paths: paths(v2Operation, v2Parameter), definitions };
}

/** The OpenAPI v3 document of the group version: self-contained, as kubectl explain needs it. */
export function openApiV3(): Record<string, unknown> {
  const schemas: Record<string, JsonSchema> = { ...(ourSchemas(V3) as Record<string, JsonSchema>), ...META_V1_SCHEMAS };
  return { openapi: '3.0.0', info: info('v3'), paths: paths(v3Operation, v3Parameter), components: { schemas } };
}

/**
 * The OpenAPI v3 index (`/openapi/v3`): where the group version's document
 * is, with its hash in the URL as kube-openapi's handler3 writes it, so
 * clients may cache the document for as long as the hash stays the same.
 */
export function openApiV3Index(hash: string): Record<string, unknown> {
  return { paths: { [V3_GROUP_VERSION_PATH]: { serverRelativeURL: `/openapi/v3/${V3_GROUP_VERSION_PATH}?hash=${hash}` } } };
}
