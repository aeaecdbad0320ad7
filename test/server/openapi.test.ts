import test from 'ava';
import type { ExecutionContext } from 'ava';
import { API_TYPES } from '../../server/api-types.ts';
import { META_V1 } from '../../server/openapi-meta-v3.ts';
import { openApiV2, openApiV3, openApiV3Index, schemaName } from '../../server/openapi.ts';
import { toReversePortForward, toReversePortForwardList, toTable } from '../../server/session-objects.ts';
import type { LocatedSession } from '../../server/session-objects.ts';

type Json = Record<string, unknown>;

const GROUP = 'rpf.kube-rpf.dev';
const VERSION = 'v1alpha1';
const PREFIX = `/apis/${GROUP}/${VERSION}`;
const RPF_GVK = { group: GROUP, version: VERSION, kind: 'ReversePortForward' };

const v2 = openApiV2();
const v3 = openApiV3();
const v3Schemas = (v3['components'] as { schemas: Record<string, Json> }).schemas;
const v2Definitions = v2['definitions'] as Record<string, Json>;

const session: LocatedSession = {
  node: 'node-a',
  session: {
    id: 'rpf-abc',
    namespace: 'dev',
    pod: 'web',
    podUID: 'uid-web',
    user: 'alice',
    ports: [
      { address: '127.0.0.1', port: 8080, requestedPort: 8080 },
      { address: '127.0.0.1', port: 41234, requestedPort: 0 },
    ],
    connections: { open: 2, total: 9 },
    bytesToPod: 100,
    bytesFromPod: 200,
    startTime: '2030-01-01T00:00:00Z',
  },
};

/** Every `$ref` anywhere in a value, with where it was found. */
function refs(value: unknown, at = '#'): { ref: string; at: string }[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => refs(v, `${at}/${i}`));
  if (typeof value !== 'object' || value === null) return [];
  const out: { ref: string; at: string }[] = [];
  for (const [k, v] of Object.entries(value)) {
    if (k === '$ref' && typeof v === 'string') out.push({ ref: v, at });
    else out.push(...refs(v, `${at}/${k}`));
  }
  return out;
}

test('every $ref of the v3 document resolves within it (kubectl explain and generators look nowhere else)', (t) => {
  const found = refs(v3);
  t.true(found.length > 10);
  for (const { ref, at } of found) {
    t.true(ref.startsWith('#/components/schemas/'), `${at}: ${ref}`);
    t.truthy(v3Schemas[ref.slice('#/components/schemas/'.length)], `${at}: ${ref} does not resolve`);
  }
});

test('every $ref of the v2 document resolves within it, as kube-aggregator\'s conversion to v3 needs', (t) => {
  const found = refs(v2);
  t.true(found.length > 10);
  for (const { ref, at } of found) {
    t.true(ref.startsWith('#/definitions/'), `${at}: ${ref}`);
    t.truthy(v2Definitions[ref.slice('#/definitions/'.length)], `${at}: ${ref} does not resolve`);
  }
});

test('both documents carry the meta/v1 schemas under the names kube-apiserver gives them, and say which version they are', (t) => {
  for (const name of ['ObjectMeta', 'ListMeta', 'Status', 'Time', 'ManagedFieldsEntry']) {
    t.truthy(v2Definitions[`${META_V1}.${name}`], name);
  }
  t.regex(String((v2['info'] as Json)['description']), /OpenAPI v2 document/);
  t.regex(String((v3['info'] as Json)['description']), /OpenAPI v3 document/);
});

test('the v3 document carries the standard meta/v1 schemas under their standard names', (t) => {
  for (const name of ['ObjectMeta', 'ListMeta', 'Status', 'Time', 'ManagedFieldsEntry']) {
    t.truthy(v3Schemas[`${META_V1}.${name}`], name);
  }
  t.is(v3['openapi'], '3.0.0');
  t.is(v2['swagger'], '2.0');
});

test('every path lies under /apis/GROUP/VERSION/, the only prefix kube-aggregator keeps of an APIService document', (t) => {
  for (const doc of [v2, v3]) {
    const paths = Object.keys(doc['paths'] as Json);
    t.true(paths.length >= 4);
    for (const p of paths) t.true(p.startsWith(`${PREFIX}/`), p);
  }
});

test('path parameters match the path templates, and operation ids are unique', (t) => {
  for (const doc of [v2, v3]) {
    const ids = new Set<string>();
    for (const [path, item] of Object.entries(doc['paths'] as Record<string, Json>)) {
      const params = ((item['parameters'] ?? []) as Json[]).filter((p) => p['in'] === 'path');
      const templated = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
      t.deepEqual(params.map((p) => p['name']).sort(), templated, path);
      for (const p of params) t.true(p['required'] as boolean, `${path} ${String(p['name'])}`);
      for (const method of ['get', 'delete']) {
        const op = item[method] as Json | undefined;
        if (op === undefined) continue;
        const id = op['operationId'] as string;
        t.false(ids.has(id), id);
        ids.add(id);
        t.truthy((op['responses'] as Json)['401']);
      }
    }
  }
});

test('the object and list schemas carry their group, version and kind', (t) => {
  for (const schemas of [v2Definitions, v3Schemas]) {
    t.deepEqual(schemas[schemaName('ReversePortForward')]?.['x-kubernetes-group-version-kind'], [RPF_GVK]);
    t.deepEqual(schemas[schemaName('ReversePortForwardList')]?.['x-kubernetes-group-version-kind'], [{ ...RPF_GVK, kind: 'ReversePortForwardList' }]);
    // Nested types have no kind of their own.
    t.is(schemas[schemaName('ReversePortForwardSpec')]?.['x-kubernetes-group-version-kind'], undefined);
  }
});

const operations: [name: string, path: string, method: string, action: string, kind: string, response: string][] = [
  ['list in all namespaces', `${PREFIX}/reverseportforwards`, 'get', 'list', 'ReversePortForward', 'ReversePortForwardList'],
  ['list in a namespace', `${PREFIX}/namespaces/{namespace}/reverseportforwards`, 'get', 'list', 'ReversePortForward', 'ReversePortForwardList'],
  ['read', `${PREFIX}/namespaces/{namespace}/reverseportforwards/{name}`, 'get', 'get', 'ReversePortForward', 'ReversePortForward'],
  ['delete', `${PREFIX}/namespaces/{namespace}/reverseportforwards/{name}`, 'delete', 'delete', 'ReversePortForward', `${META_V1}.Status`],
  ['connect', `${PREFIX}/namespaces/{namespace}/pods/{name}/reverseportforward`, 'get', 'connect', 'ReversePortForwardOptions', 'ReversePortForwardList'],
];
for (const [name, path, method, action, kind, response] of operations) {
  test(`operation ${name}: x-kubernetes-action ${action}, the kind ${kind} and its 200 body, in v2 and v3`, (t) => {
    const responseName = response.startsWith(META_V1) ? response : schemaName(response as 'ReversePortForward');
    const o2 = ((v2['paths'] as Record<string, Json>)[path]?.[method] ?? {}) as Json;
    const o3 = ((v3['paths'] as Record<string, Json>)[path]?.[method] ?? {}) as Json;
    for (const op of [o2, o3]) {
      t.is(op['x-kubernetes-action'], action);
      // kubectl explain compares these objects for deep equality with the schema's entry: same keys, nothing else.
      t.deepEqual(op['x-kubernetes-group-version-kind'], { group: GROUP, version: VERSION, kind });
      t.truthy(op['description']);
    }
    t.deepEqual((o2['responses'] as Record<string, Json>)['200']?.['schema'], { $ref: `#/definitions/${responseName}` });
    const content = (o3['responses'] as Record<string, Json>)['200']?.['content'] as Record<string, Json>;
    for (const media of Object.values(content)) t.deepEqual(media['schema'], { $ref: `#/components/schemas/${responseName}` });
  });
}

test('the connect operation documents its query: ports (required) and address, repeated', (t) => {
  const path = `${PREFIX}/namespaces/{namespace}/pods/{name}/reverseportforward`;
  const p2 = (v2['paths'] as Record<string, { parameters: Json[] }>)[path]?.parameters ?? [];
  const p3 = (v3['paths'] as Record<string, { parameters: Json[] }>)[path]?.parameters ?? [];
  const ports2 = p2.find((p) => p['name'] === 'ports');
  t.like(ports2, { in: 'query', required: true, type: 'array', collectionFormat: 'multi', items: { type: 'integer', minimum: 0, maximum: 65535 } });
  t.like(p2.find((p) => p['name'] === 'address'), { in: 'query', required: false, type: 'array', collectionFormat: 'multi', items: { type: 'string' } });
  t.like(p3.find((p) => p['name'] === 'ports'), { in: 'query', required: true, style: 'form', explode: true, schema: { type: 'array', items: { type: 'integer' } } });
  t.like(p3.find((p) => p['name'] === 'address'), { in: 'query', required: false, schema: { type: 'array', items: { type: 'string' } } });
  for (const p of [...p2, ...p3]) t.true(String(p['description']).length > 10, String(p['name']));
});

test('every field of our types has a description and a type, in both documents', (t) => {
  for (const [schemas, refKey] of [[v2Definitions, '#/definitions/'], [v3Schemas, '#/components/schemas/']] as const) {
    for (const type of Object.keys(API_TYPES)) {
      const schema = schemas[schemaName(type as keyof typeof API_TYPES)] as Json;
      t.true(String(schema['description']).length > 10, type);
      t.is(schema['type'], 'object');
      for (const [field, fs] of Object.entries(schema['properties'] as Record<string, Json>)) {
        t.true(String(fs['description']).length > 3, `${type}.${field}`);
        const typed = 'type' in fs || '$ref' in fs || 'allOf' in fs;
        t.true(typed, `${type}.${field}`);
        const ref = (fs['$ref'] ?? (fs['allOf'] as Json[] | undefined)?.[0]?.['$ref']) as string | undefined;
        if (ref !== undefined) t.true(ref.startsWith(refKey));
      }
      for (const r of (schema['required'] ?? []) as string[]) t.truthy((schema['properties'] as Json)[r], `${type} requires ${r}`);
    }
  }
});

/** Resolves a schema's $ref (directly or through a single allOf) within the v3 document. */
function resolve(schema: Json): Json {
  const ref = (schema['$ref'] ?? (schema['allOf'] as Json[] | undefined)?.[0]?.['$ref']) as string | undefined;
  if (ref === undefined) return schema;
  return v3Schemas[ref.slice('#/components/schemas/'.length)] ?? {};
}

/** The short name of a schema of the v3 document (`ReversePortForwardSpec`). */
function nameOf(schema: Json): string {
  const full = Object.entries(v3Schemas).find(([, s]) => s === schema)?.[0] ?? '?';
  return full.slice(full.lastIndexOf('.') + 1);
}

/**
 * Checks a served value against its v3 schema: every field it carries is
 * documented (with a description), of the documented JSON type, and every
 * required field is there. Records which of our documented fields were seen.
 */
function check(t: ExecutionContext, value: unknown, schema: Json, at: string, seen: Set<string>): void {
  const resolved = resolve(schema);
  if (value === null) {
    // apimachinery writes a zero time as null (creationTimestamp: null).
    t.is(nameOf(resolved), 'Time', `${at} is null but not a time`);
    return;
  }
  const type = resolved['type'];
  if (type === 'string') t.is(typeof value, 'string', at);
  else if (type === 'integer') t.true(Number.isInteger(value), at);
  else if (type === 'array') {
    t.true(Array.isArray(value), at);
    (value as unknown[]).forEach((v, i) => check(t, v, resolved['items'] as Json, `${at}[${i}]`, seen));
  } else {
    t.is(type, 'object', at);
    t.true(typeof value === 'object' && !Array.isArray(value), at);
    const properties = (resolved['properties'] ?? {}) as Record<string, Json>;
    for (const [k, v] of Object.entries(value as Json)) {
      const field = properties[k];
      if (field === undefined) {
        t.fail(`${at}.${k} is served but not documented`);
        continue;
      }
      t.true(String(field['description'] ?? '').length > 0, `${at}.${k} has no description`);
      seen.add(`${nameOf(resolved)}.${k}`);
      check(t, v, field, `${at}.${k}`, seen);
    }
    for (const r of (resolved['required'] ?? []) as string[]) t.true(r in (value as Json), `${at}.${r} is required but not served`);
  }
}

/** `Type.field` for every field of our own types. */
function documentedFields(): Set<string> {
  const out = new Set<string>();
  for (const [type, schema] of Object.entries(API_TYPES)) for (const field of Object.keys(schema.properties)) out.add(`${type}.${field}`);
  return out;
}

test('a served ReversePortForward matches its schema: every field documented, typed, and every documented field served', (t) => {
  const seen = new Set<string>();
  const object = JSON.parse(JSON.stringify(toReversePortForward(session))) as unknown;
  check(t, object, v3Schemas[schemaName('ReversePortForward')] as Json, 'ReversePortForward', seen);
  const listSeen = new Set<string>();
  const list = JSON.parse(JSON.stringify(toReversePortForwardList([session]))) as unknown;
  check(t, list, v3Schemas[schemaName('ReversePortForwardList')] as Json, 'ReversePortForwardList', listSeen);
  for (const s of listSeen) seen.add(s);
  const ours = documentedFields();
  t.deepEqual([...ours].filter((f) => !seen.has(f)), [], 'documented but never served');
});

test('a session without a start time is served with creationTimestamp null, as the schema allows', (t) => {
  const object = JSON.parse(JSON.stringify(toReversePortForward({ ...session, session: { ...session.session, startTime: '' } }))) as unknown;
  check(t, object, v3Schemas[schemaName('ReversePortForward')] as Json, 'ReversePortForward', new Set());
});

test('the whole object in a Table row matches the schema too', (t) => {
  const table = toTable([session], 0, 'v1', 'Object') as { rows: { object: unknown }[] };
  check(t, JSON.parse(JSON.stringify(table.rows[0]?.object)), v3Schemas[schemaName('ReversePortForward')] as Json, 'row', new Set());
});

/**
 * What kubectl explain (1.27+, OpenAPI v3) does with the document: find the
 * resource's kind on the operations of its paths, then the schema carrying
 * that kind, then follow the field path through $ref and allOf.
 */
function explain(resource: string, fieldPath: string[]): { kind: Json; schema: Json; fieldDescription: string; typeDescription: string } {
  const paths = v3['paths'] as Record<string, Json>;
  let kind: Json | undefined;
  for (const p of [`${PREFIX}/${resource}`, `${PREFIX}/${resource}/{name}`, `${PREFIX}/namespaces/{namespace}/${resource}`, `${PREFIX}/namespaces/{namespace}/${resource}/{name}`]) {
    for (const method of ['get', 'post', 'put', 'patch', 'delete']) {
      kind ??= (paths[p]?.[method] as Json | undefined)?.['x-kubernetes-group-version-kind'] as Json | undefined;
    }
  }
  if (kind === undefined) throw new Error(`GVR ${resource} not found`);
  const wanted = JSON.stringify(kind);
  const top = Object.values(v3Schemas).find((s) => ((s['x-kubernetes-group-version-kind'] ?? []) as Json[]).some((g) => JSON.stringify(g) === wanted));
  if (top === undefined) throw new Error('GVK not found');
  let field: Json = top;
  for (const name of fieldPath) {
    const next = (resolve(field)['properties'] as Record<string, Json> | undefined)?.[name];
    if (next === undefined) throw new Error(`field ${name} does not exist`);
    field = next;
  }
  return { kind, schema: resolve(field), fieldDescription: String(field['description']), typeDescription: String(resolve(field)['description']) };
}

test('kubectl explain finds reverseportforwards, its kind and documented fields, down to status.listeners', (t) => {
  const top = explain('reverseportforwards', []);
  t.deepEqual(top.kind, RPF_GVK);
  t.regex(top.typeDescription, /^ReversePortForward is one active reverse port-forward session/);
  t.deepEqual(Object.keys(top.schema['properties'] as Json).sort(), ['apiVersion', 'kind', 'metadata', 'spec', 'status']);
  const spec = explain('reverseportforwards', ['spec']);
  t.regex(spec.fieldDescription, /What the session was opened for/);
  t.regex(spec.typeDescription, /^ReversePortForwardSpec is/);
  t.truthy((spec.schema['properties'] as Json)['podUID']);
  const metadata = explain('reverseportforwards', ['metadata']);
  t.truthy((metadata.schema['properties'] as Json)['creationTimestamp'], 'ObjectMeta resolves within the document');
  const listeners = explain('reverseportforwards', ['status', 'listeners']);
  const item = resolve(listeners.schema['items'] as Json);
  t.deepEqual(Object.keys(item['properties'] as Json).sort(), ['address', 'port', 'requestedPort']);
});

test('the v3 index names the group version document with its hash', (t) => {
  t.deepEqual(openApiV3Index('ABC'), { paths: { [`apis/${GROUP}/${VERSION}`]: { serverRelativeURL: `/openapi/v3/apis/${GROUP}/${VERSION}?hash=ABC` } } });
});

test('the documents are the same on every call (their hashes and ETags depend on it)', (t) => {
  t.is(JSON.stringify(openApiV3()), JSON.stringify(v3));
  t.is(JSON.stringify(openApiV2()), JSON.stringify(v2));
});
