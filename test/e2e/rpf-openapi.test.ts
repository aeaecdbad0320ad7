// OpenAPI through the real kube-apiserver: kube-aggregator serves rpf-server's
// own v3 document for the group version and merges its v2; kubectl explain
// prints the field documentation of server/api-types.ts from them; and what a
// live session serves (kubectl get -o json) is documented there.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { API_TYPES } from '../../server/api-types.ts';
import { createNamespace, deleteNamespace, kubectl, kubectlOk, startTestbox, waitFor } from './helpers/cluster.ts';
import type { CommandResult } from './helpers/cluster.ts';
import { startHttpServer } from './helpers/local-server.ts';
import { startRpf } from './helpers/rpf.ts';

type Json = Record<string, unknown>;

const GV_PATH = 'apis/rpf.kube-rpf.dev/v1alpha1';
const RPF_SCHEMA = 'dev.kube-rpf.rpf.v1alpha1.ReversePortForward';
// kube-aggregator reads an APIService's OpenAPI a second after the APIService appears, then once a minute.
const OPENAPI_WAIT_MS = 130_000;
// Longer than AVA's 3 minutes, for a test that may wait that long for kube-aggregator.
const TEST_TIMEOUT_MS = 5 * 60_000;

let namespace: string;
let cacheDir: string;

test.before(async () => {
  // A cache of our own: discovery and OpenAPI that an earlier kubectl cached must not hide what is served now.
  cacheDir = await mkdtemp(path.join(os.tmpdir(), 'rpf-openapi-kubectl-'));
  namespace = await createNamespace('rpf-openapi');
  await startTestbox(namespace, 'app');
});

test.after.always(async () => {
  if (namespace) await deleteNamespace(namespace);
  if (cacheDir) await rm(cacheDir, { recursive: true, force: true });
});

function kubectlFresh(args: string[]): Promise<CommandResult> {
  return kubectl([...args, `--cache-dir=${cacheDir}`]);
}

/** Runs kubectl explain until it succeeds (kube-apiserver may not have read the documents yet). */
async function explain(args: string[]): Promise<string> {
  let last: CommandResult | undefined;
  try {
    return await waitFor(
      `kubectl explain ${args.join(' ')}`,
      async () => {
        last = await kubectlFresh(['explain', ...args]);
        return last.code === 0 ? last.stdout : undefined;
      },
      OPENAPI_WAIT_MS,
    );
  } catch (error) {
    throw new Error(`${(error as Error).message}; last answer (${last?.code}): ${last?.stderr.trim()}`);
  }
}

/** Text as one line: kubectl explain wraps descriptions at about 76 columns and indents them. */
function flat(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** The v3 document of the group version as kube-apiserver serves it, by the URL its index gives. */
async function servedV3(): Promise<Json> {
  const url = await waitFor(
    `${GV_PATH} in kube-apiserver's OpenAPI v3 index`,
    async () => {
      const index = JSON.parse(await kubectlOk(['get', '--raw', '/openapi/v3'])) as { paths: Record<string, { serverRelativeURL: string }> };
      return index.paths[GV_PATH]?.serverRelativeURL;
    },
    OPENAPI_WAIT_MS,
  );
  return JSON.parse(await kubectlOk(['get', '--raw', url])) as Json;
}

function schemas(doc: Json): Record<string, Json> {
  return ((doc['components'] as Json | undefined)?.['schemas'] ?? {}) as Record<string, Json>;
}

test.serial('kube-apiserver lists the group version in its OpenAPI v3 index and serves rpf-server\'s own v3 document for it', async (t) => {
  t.timeout(TEST_TIMEOUT_MS, 'kube-aggregator reads OpenAPI once a minute');
  const doc = await servedV3();
  const description = String((doc['info'] as Json | undefined)?.['description']);
  if (/OpenAPI v2 document/.test(description)) {
    t.fail(
      'kube-apiserver serves a v3 converted from rpf-server\'s v2: its aggregator saw /openapi/v3 answer 404 (an rpf-server from before OpenAPI v3) and keeps converting for as long as the APIService exists. Re-create the APIService v1alpha1.rpf.kube-rpf.dev (or restart kube-apiserver), then run again.',
    );
    return;
  }
  t.regex(description, /OpenAPI v3 document/);
  t.is(doc['openapi'], '3.0.0');
  const rpf = schemas(doc)[RPF_SCHEMA];
  t.deepEqual(rpf?.['x-kubernetes-group-version-kind'], [{ group: 'rpf.kube-rpf.dev', version: 'v1alpha1', kind: 'ReversePortForward' }]);
  t.is(rpf?.['description'], API_TYPES.ReversePortForward.description);
  // Self-contained: the standard metadata resolves within the document.
  t.truthy(schemas(doc)['io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta']);
  // The same document by its plain path, as a client without the index would ask.
  const plain = JSON.parse(await kubectlOk(['get', '--raw', `/openapi/v3/${GV_PATH}`])) as Json;
  t.deepEqual(schemas(plain)[RPF_SCHEMA], rpf);
});

test.serial('kubectl explain reverseportforwards prints the group, kind, version, description and documented fields', async (t) => {
  t.timeout(TEST_TIMEOUT_MS, 'kube-aggregator reads OpenAPI once a minute');
  const out = await explain(['reverseportforwards']);
  t.regex(out, /^GROUP:\s+rpf\.kube-rpf\.dev$/m);
  t.regex(out, /^KIND:\s+ReversePortForward$/m);
  t.regex(out, /^VERSION:\s+v1alpha1$/m);
  t.regex(out, /^DESCRIPTION:$/m);
  t.true(flat(out).includes(flat(API_TYPES.ReversePortForward.description)), out);
  t.regex(out, /^\s+metadata\s+<ObjectMeta>/m);
  t.regex(out, /^\s+spec\s+<ReversePortForwardSpec>/m);
  t.regex(out, /^\s+status\s+<ReversePortForwardStatus>/m);
  for (const field of ['metadata', 'spec', 'status'] as const) {
    t.true(flat(out).includes(flat(API_TYPES.ReversePortForward.properties[field].description)), field);
  }
});

test.serial('kubectl explain reverseportforwards.spec prints every field of the spec with its description', async (t) => {
  t.timeout(TEST_TIMEOUT_MS, 'kube-aggregator reads OpenAPI once a minute');
  const out = await explain(['reverseportforwards.spec']);
  t.regex(out, /^FIELD:\s+spec\s+<ReversePortForwardSpec>$/m);
  t.true(flat(out).includes(flat(API_TYPES.ReversePortForwardSpec.description)), out);
  for (const [name, field] of Object.entries(API_TYPES.ReversePortForwardSpec.properties)) {
    t.regex(out, new RegExp(`^\\s+${name}\\s+<`, 'm'), name);
    t.true(flat(out).includes(flat(field.description)), name);
  }
  t.regex(out, /^\s+ports\s+<\[\]integer>/m);
});

test.serial('kubectl explain follows status.listeners and metadata.creationTimestamp through the document', async (t) => {
  t.timeout(TEST_TIMEOUT_MS, 'kube-aggregator reads OpenAPI once a minute');
  const listeners = await explain(['reverseportforwards.status.listeners']);
  t.regex(listeners, /^FIELD:\s+listeners\s+<\[\]ReversePortForwardListener>$/m);
  for (const [name, field] of Object.entries(API_TYPES.ReversePortForwardListener.properties)) {
    t.true(flat(listeners).includes(flat(field.description)), name);
  }
  const created = await explain(['reverseportforwards.metadata.creationTimestamp']);
  t.regex(created, /^FIELD:\s+creationTimestamp\s+<string>$/m);
  t.regex(flat(created), /CreationTimestamp is a timestamp representing the server time/);
});

test.serial('kubectl explain with the OpenAPI v2 renderer finds the kind in kube-apiserver\'s merged v2 document', async (t) => {
  t.timeout(TEST_TIMEOUT_MS, 'kube-aggregator reads OpenAPI once a minute');
  const out = await explain(['reverseportforwards.spec', '--output=plaintext-openapiv2']);
  t.regex(out, /^KIND:\s+ReversePortForward$/m);
  t.regex(out, /^VERSION:\s+rpf\.kube-rpf\.dev\/v1alpha1$/m);
  t.true(flat(out).includes(flat(API_TYPES.ReversePortForwardSpec.properties.podUID.description)), out);
});

/** Resolves a schema's $ref, direct or through a single allOf, within the document. */
function resolve(doc: Json, schema: Json): Json {
  const ref = (schema['$ref'] ?? (schema['allOf'] as Json[] | undefined)?.[0]?.['$ref']) as string | undefined;
  return ref === undefined ? schema : (schemas(doc)[ref.slice('#/components/schemas/'.length)] ?? {});
}

/** Asserts that every field of a served value is documented in the served schema, with a description. */
function assertDocumented(t: ExecutionContext, doc: Json, value: unknown, schema: Json, at: string): void {
  const resolved = resolve(doc, schema);
  if (Array.isArray(value)) {
    value.forEach((v, i) => assertDocumented(t, doc, v, (resolved['items'] ?? {}) as Json, `${at}[${i}]`));
    return;
  }
  if (typeof value !== 'object' || value === null) return;
  const properties = (resolved['properties'] ?? {}) as Record<string, Json>;
  for (const [key, v] of Object.entries(value as Json)) {
    const field = properties[key];
    t.truthy(field, `${at}.${key} is served but not documented`);
    if (field === undefined) continue;
    t.true(String(field['description'] ?? '').length > 0, `${at}.${key} has no description`);
    assertDocumented(t, doc, v, field, `${at}.${key}`);
  }
}

test.serial('a live session, as kubectl get -o json shows it, carries only fields the served document describes', async (t) => {
  t.timeout(TEST_TIMEOUT_MS, 'kube-aggregator reads OpenAPI once a minute');
  const web = await startHttpServer('documented\n');
  const rpf = await startRpf(['-n', namespace, 'app', `8989:${web.port}`], 2);
  try {
    const item = await waitFor('the session in the list', async () => {
      const list = JSON.parse(await kubectlOk(['get', 'reverseportforwards', '-n', namespace, '-o', 'json'])) as { items: Json[] };
      return list.items[0];
    });
    t.is(item['kind'], 'ReversePortForward');
    const doc = await servedV3();
    const rpfSchema = schemas(doc)[RPF_SCHEMA];
    t.truthy(rpfSchema);
    assertDocumented(t, doc, item, rpfSchema ?? {}, 'ReversePortForward');
    // The session's own fields are all there (the documentation describes what is served, not a wish).
    t.deepEqual(Object.keys(item['spec'] as Json).sort(), Object.keys(API_TYPES.ReversePortForwardSpec.properties).sort());
    t.deepEqual(Object.keys(item['status'] as Json).sort(), Object.keys(API_TYPES.ReversePortForwardStatus.properties).sort());
  } finally {
    await rpf.stop();
    await web.close();
  }
});
