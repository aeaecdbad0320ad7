// Kubeconfig files read the way kubectl reads them, without importing
// @kubernetes/client-node (~450 ms with its generated API, most of a
// session's start). Files merge with kubectl's rules (the first file to name
// an entry wins, and the first current-context); relative paths count from
// the file that holds them. The credentials of the chosen context are
// kube-credentials.ts's job.

import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { isIPv6 } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { loadAll } from 'js-yaml';
import { RpfClientError } from './errors.ts';

/** One cluster, user or context of a kubeconfig, as written, its file paths made absolute. */
export type KubeconfigEntry = Readonly<Record<string, unknown>>;

/** A kubeconfig after kubectl's merge: entries by name. */
export interface Kubeconfig {
  readonly currentContext: string | undefined;
  readonly clusters: ReadonlyMap<string, KubeconfigEntry>;
  readonly users: ReadonlyMap<string, KubeconfigEntry>;
  readonly contexts: ReadonlyMap<string, KubeconfigEntry>;
  /** The client-node KubeConfig this was read from, when a library caller passed one. */
  readonly kubeConfig: KubeConfig | undefined;
}

/** Where kubeconfigs are looked for when no path is given; tests pass their own. */
export interface KubeconfigEnvironment {
  /** Variables: KUBECONFIG, and in a pod KUBERNETES_SERVICE_HOST, KUBERNETES_SERVICE_PORT, POD_NAMESPACE. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Folder holding `.kube/config`. */
  readonly homeDir: string;
  /** The pod's service account folder (token, ca.crt, namespace), used when no kubeconfig exists. */
  readonly serviceAccountDir: string;
}

/** The environment of this process. */
export function processEnvironment(): KubeconfigEnvironment {
  return { env: process.env, homeDir: os.homedir(), serviceAccountDir: '/var/run/secrets/kubernetes.io/serviceaccount' };
}

const SECTIONS = [
  // [list, key of the entry's fields, fields that are file paths]
  ['clusters', 'cluster', ['certificate-authority']],
  ['users', 'user', ['client-certificate', 'client-key', 'tokenFile']],
  ['contexts', 'context', []],
] as const;

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function kubeconfigError(message: string, cause?: unknown): RpfClientError {
  return new RpfClientError('RPF_ERR_CLIENT_KUBECONFIG', message, { cause });
}

/** One line for a read or parse error; js-yaml's own message spans several lines with a snippet. */
export function describe(error: unknown): string {
  if (error instanceof Error && 'reason' in error && typeof error.reason === 'string') {
    const mark = (error as { mark?: { line: number; column: number } }).mark;
    return mark === undefined ? error.reason : `${error.reason} (line ${mark.line + 1}, column ${mark.column + 1})`;
  }
  return error instanceof Error ? error.message : String(error);
}

function withAbsolutePaths(fields: Record<string, unknown>, pathFields: readonly string[], dir: string): KubeconfigEntry {
  const entry = { ...fields };
  for (const name of pathFields) {
    const value = entry[name];
    if (typeof value === 'string' && value !== '') entry[name] = path.resolve(dir, value);
  }
  // kubectl resolves an exec command only when it is a path (`./get-token`), not a name looked up on $PATH.
  const exec = entry.exec;
  if (isRecord(exec) && typeof exec.command === 'string' && exec.command.includes(path.sep)) {
    entry.exec = { ...exec, command: path.resolve(dir, exec.command) };
  }
  return entry;
}

/**
 * Reads one kubeconfig document (YAML or JSON) whose relative paths count
 * from `dir`. Within a file, the first entry of a name wins, as across files.
 */
export function parseKubeconfig(text: string, dir: string): Kubeconfig {
  const document: unknown = loadAll(text)[0] ?? {};
  if (!isRecord(document)) throw new Error('the file is not a kubeconfig (its top level is not a mapping)');
  const maps = { clusters: new Map<string, KubeconfigEntry>(), users: new Map<string, KubeconfigEntry>(), contexts: new Map<string, KubeconfigEntry>() };
  for (const [list, key, pathFields] of SECTIONS) {
    const items = document[list] ?? [];
    if (!Array.isArray(items)) throw new Error(`${list} is not a list`);
    items.forEach((item: unknown, i) => {
      if (!isRecord(item) || typeof item.name !== 'string' || item.name === '') throw new Error(`${list}[${i}] has no name`);
      const fields = item[key] ?? {};
      if (!isRecord(fields)) throw new Error(`${list}[${i}].${key} is not a mapping`);
      if (!maps[list].has(item.name)) maps[list].set(item.name, withAbsolutePaths(fields, pathFields, dir));
    });
  }
  const current = document['current-context'];
  return { currentContext: typeof current === 'string' && current !== '' ? current : undefined, ...maps, kubeConfig: undefined };
}

/** kubectl's merge: the first file to name a cluster, user or context wins, and the first to set current-context. */
export function mergeKubeconfigs(files: readonly Kubeconfig[]): Kubeconfig {
  const merged = { currentContext: undefined as string | undefined, clusters: new Map<string, KubeconfigEntry>(), users: new Map<string, KubeconfigEntry>(), contexts: new Map<string, KubeconfigEntry>() };
  for (const file of files) {
    merged.currentContext ??= file.currentContext;
    for (const list of ['clusters', 'users', 'contexts'] as const) {
      for (const [name, entry] of file[list]) if (!merged[list].has(name)) merged[list].set(name, entry);
    }
  }
  return { ...merged, kubeConfig: undefined };
}

function readKubeconfigFile(file: string): Kubeconfig {
  return parseKubeconfig(readFileSync(file, 'utf8'), path.dirname(path.resolve(file)));
}

/** A client-node KubeConfig as our own: its paths are already absolute, or relative to the working folder. */
function fromClientNode(kubeConfig: KubeConfig): Kubeconfig {
  return { ...parseKubeconfig(kubeConfig.exportConfig(), process.cwd()), kubeConfig };
}

/** Duck-typed, so that a KubeConfig from another copy of client-node passes, and client-node is not imported to check. */
function isKubeConfig(value: unknown): value is KubeConfig {
  return isRecord(value) && typeof value.exportConfig === 'function' && typeof value.applyToHTTPSOptions === 'function';
}

/** The pod's own service account, as kubectl uses it when it runs in a pod with no kubeconfig. */
function inClusterKubeconfig(environment: KubeconfigEnvironment): Kubeconfig | undefined {
  const { KUBERNETES_SERVICE_HOST: host, KUBERNETES_SERVICE_PORT: port, POD_NAMESPACE: podNamespace } = environment.env;
  const tokenFile = path.join(environment.serviceAccountDir, 'token');
  if (!host || !port || !existsSync(tokenFile)) return undefined;
  let namespace = podNamespace || undefined;
  try {
    namespace ??= readFileSync(path.join(environment.serviceAccountDir, 'namespace'), 'utf8').trim() || undefined;
  } catch {
    // No namespace file: the default namespace.
  }
  return {
    currentContext: 'inClusterContext',
    clusters: new Map([['inCluster', { server: `https://${isIPv6(host) ? `[${host}]` : host}:${port}`, 'certificate-authority': path.join(environment.serviceAccountDir, 'ca.crt') }]]),
    users: new Map([['inClusterUser', { tokenFile }]]),
    contexts: new Map([['inClusterContext', { cluster: 'inCluster', user: 'inClusterUser', ...(namespace === undefined ? {} : { namespace }) }]]),
    kubeConfig: undefined,
  };
}

/**
 * Loads the kubeconfig kubectl would: `source` (a path, or a client-node
 * KubeConfig), else the files of $KUBECONFIG merged (missing ones skipped),
 * else ~/.kube/config, else the pod's service account. Throws
 * RPF_ERR_CLIENT_KUBECONFIG.
 */
export function loadKubeconfig(source?: KubeConfig | string, environment: KubeconfigEnvironment = processEnvironment()): Kubeconfig {
  if (isKubeConfig(source)) {
    try {
      return fromClientNode(source);
    } catch (error) {
      throw kubeconfigError(`cannot read the KubeConfig object: ${describe(error)}`, error);
    }
  }
  if (typeof source === 'string') {
    try {
      return readKubeconfigFile(source);
    } catch (error) {
      throw kubeconfigError(`cannot load kubeconfig ${source}: ${describe(error)}`, error);
    }
  }
  // Empty entries are skipped and repeats read once, as kubectl does.
  const listed = [...new Set((environment.env.KUBECONFIG ?? '').split(path.delimiter).filter(Boolean))];
  if (listed.length > 0) {
    const files: Kubeconfig[] = [];
    let missing: unknown;
    for (const file of listed) {
      try {
        files.push(readKubeconfigFile(file));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
          missing ??= error;
          continue;
        }
        throw kubeconfigError(`cannot load kubeconfig from $KUBECONFIG: ${file}: ${describe(error)}`, error);
      }
    }
    if (files.length > 0) return mergeKubeconfigs(files);
    const inCluster = inClusterKubeconfig(environment);
    if (inCluster !== undefined) return inCluster;
    throw kubeconfigError(`cannot load kubeconfig from $KUBECONFIG: ${describe(missing)}`, missing);
  }
  const home = path.join(environment.homeDir, '.kube', 'config');
  if (existsSync(home)) {
    try {
      return readKubeconfigFile(home);
    } catch (error) {
      throw kubeconfigError(`cannot load kubeconfig from ~/.kube/config: ${describe(error)}`, error);
    }
  }
  const inCluster = inClusterKubeconfig(environment);
  if (inCluster !== undefined) return inCluster;
  throw kubeconfigError('no kubeconfig found: pass --kubeconfig, set KUBECONFIG, or create ~/.kube/config');
}
