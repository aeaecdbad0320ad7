// The credentials of one kubeconfig context, built for node:https and ws:
// the context's cluster and user checked the way kubectl checks them, TLS
// material and headers read at each request. Users with `exec` or
// `auth-provider`, and clusters with `proxy-url`, are handed to
// @kubernetes/client-node, imported only then (importing it costs ~450 ms).

import { readFile } from 'node:fs/promises';
import type https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { describe, isRecord, kubeconfigError, type Kubeconfig, type KubeconfigEntry } from './kubeconfig.ts';

/** Reads typed fields of one entry, collecting every problem rather than stopping at the first. */
class FieldReader {
  readonly problems: string[] = [];
  readonly #entry: KubeconfigEntry;

  constructor(entry: KubeconfigEntry) {
    this.#entry = entry;
  }

  has(key: string): boolean {
    return this.#entry[key] !== undefined && this.#entry[key] !== null;
  }

  string(key: string): string | undefined {
    const value = this.#entry[key];
    if (value === undefined || value === null || value === '') return undefined;
    if (typeof value === 'string') return value;
    this.problems.push(`${key} is not a string`);
    return undefined;
  }

  boolean(key: string): boolean {
    const value = this.#entry[key] ?? false;
    if (typeof value === 'boolean') return value;
    this.problems.push(`${key} is not true or false`);
    return false;
  }

  strings(key: string): string[] {
    const value = this.#entry[key] ?? [];
    if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value;
    this.problems.push(`${key} is not a list of strings`);
    return [];
  }

  stringLists(key: string): Array<[string, string[]]> {
    const value = this.#entry[key] ?? {};
    if (isRecord(value) && Object.values(value).every((v) => Array.isArray(v) && v.every((s) => typeof s === 'string'))) {
      return Object.entries(value as Record<string, string[]>);
    }
    this.problems.push(`${key} is not a map of string lists`);
    return [];
  }
}

interface ClusterSettings {
  readonly server: string;
  readonly certificateAuthority: string | undefined;
  readonly certificateAuthorityData: string | undefined;
  readonly insecureSkipTlsVerify: boolean;
  readonly tlsServerName: string | undefined;
  readonly proxyUrl: string | undefined;
}

interface UserSettings {
  readonly clientCertificate: string | undefined;
  readonly clientCertificateData: string | undefined;
  readonly clientKey: string | undefined;
  readonly clientKeyData: string | undefined;
  readonly token: string | undefined;
  readonly tokenFile: string | undefined;
  readonly username: string | undefined;
  readonly password: string | undefined;
  readonly impersonate: Readonly<Record<string, string | string[]>>;
  /** Has `exec` or `auth-provider`: credentials come from client-node. */
  readonly plugin: boolean;
}

function readCluster(name: string, entry: KubeconfigEntry): ClusterSettings {
  const fields = new FieldReader(entry);
  const cluster = {
    // client-node dropped one trailing slash; messages quoting the server keep doing so.
    server: (fields.string('server') ?? '').replace(/\/$/, ''),
    certificateAuthority: fields.string('certificate-authority'),
    certificateAuthorityData: fields.string('certificate-authority-data'),
    insecureSkipTlsVerify: fields.boolean('insecure-skip-tls-verify'),
    tlsServerName: fields.string('tls-server-name'),
    proxyUrl: fields.string('proxy-url'),
  };
  // kubectl refuses this too, though its message says the data would win.
  if (cluster.certificateAuthority !== undefined && cluster.certificateAuthorityData !== undefined) {
    fields.problems.push('certificate-authority-data and certificate-authority are both set');
  }
  if (fields.problems.length > 0) throw kubeconfigError(`cluster "${name}" in the kubeconfig: ${fields.problems.join('; ')}`);
  return cluster;
}

function readUser(name: string, entry: KubeconfigEntry): UserSettings {
  const fields = new FieldReader(entry);
  const user = {
    clientCertificate: fields.string('client-certificate'),
    clientCertificateData: fields.string('client-certificate-data'),
    clientKey: fields.string('client-key'),
    clientKeyData: fields.string('client-key-data'),
    token: fields.string('token'),
    tokenFile: fields.string('tokenFile'),
    username: fields.string('username'),
    password: fields.string('password'),
    plugin: fields.has('exec') || fields.has('auth-provider'),
  };
  const as = fields.string('as');
  const uid = fields.string('as-uid');
  const groups = fields.strings('as-groups');
  const extra = fields.stringLists('as-user-extra');
  const impersonate: Record<string, string | string[]> = {};
  if (as !== undefined) impersonate['Impersonate-User'] = as;
  if (uid !== undefined) impersonate['Impersonate-Uid'] = uid;
  if (groups.length > 0) impersonate['Impersonate-Group'] = groups;
  for (const [key, values] of extra) impersonate[`Impersonate-Extra-${escapeExtraKey(key)}`] = values;
  // kubectl's checks (clientcmd ConfirmUsable) on the user of the context in use.
  const { problems } = fields;
  if (user.clientCertificate !== undefined && user.clientCertificateData !== undefined) problems.push('client-certificate-data and client-certificate are both set');
  if (user.clientKey !== undefined && user.clientKeyData !== undefined) problems.push('client-key-data and client-key are both set');
  if ((user.clientCertificate ?? user.clientCertificateData) !== undefined && (user.clientKey ?? user.clientKeyData) === undefined) {
    problems.push('a client certificate needs client-key or client-key-data');
  }
  if (user.token !== undefined && (user.username ?? user.password) !== undefined) problems.push('more than one authentication method (token and username/password); only one is allowed');
  if (fields.has('exec') && fields.has('auth-provider')) problems.push('exec and auth-provider cannot both be set');
  if (as === undefined && (uid !== undefined || groups.length > 0 || extra.length > 0)) problems.push('as-uid, as-groups or as-user-extra need as (a user to impersonate)');
  if (problems.length > 0) throw kubeconfigError(`user "${name}" in the kubeconfig: ${problems.join('; ')}`);
  return { ...user, impersonate };
}

/** client-go's escaping of extra keys in header names: bytes outside an HTTP token, and `%`, become %XX. */
function escapeExtraKey(key: string): string {
  return Array.from(Buffer.from(key, 'utf8'), (byte) => {
    const char = String.fromCharCode(byte);
    return /^[A-Za-z0-9!#$&'*+.^_`|~-]$/.test(char) ? char : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }).join('');
}

/** The request options credentials set: TLS material and headers, for https.request and ws alike. */
export interface CredentialOptions {
  ca?: Buffer | string;
  cert?: Buffer | string;
  key?: Buffer | string;
  rejectUnauthorized?: boolean;
  servername?: string;
  /** ws hands its headers to http.request, which also takes lists (Impersonate-Group). */
  headers?: Record<string, string | string[]>;
}

/** The entries client-node needs to authenticate the context's user, as a kubeconfig of its own. */
interface ContextEntries {
  readonly contextName: string;
  readonly context: KubeconfigEntry;
  readonly clusterName: string;
  readonly cluster: KubeconfigEntry;
  readonly userName: string;
  readonly user: KubeconfigEntry;
}

/**
 * The credentials of one context's user for its cluster. Each request reads
 * the files again (a rotated certificate or a refreshed tokenFile is picked
 * up); plugin users and proxies go through one client-node KubeConfig, kept
 * so that its token cache and agent serve every request.
 */
export class KubeCredentials {
  /** Name of the kubeconfig user ('' when the context names none). */
  readonly userName: string;
  readonly #cluster: ClusterSettings;
  readonly #user: UserSettings | undefined;
  readonly #entries: ContextEntries;
  readonly #kubeConfig: KubeConfig | undefined;
  #delegate: Promise<KubeConfig> | undefined;

  constructor(entries: ContextEntries, cluster: ClusterSettings, user: UserSettings | undefined, kubeConfig: KubeConfig | undefined) {
    this.userName = entries.userName;
    this.#entries = entries;
    this.#cluster = cluster;
    this.#user = user;
    this.#kubeConfig = kubeConfig;
  }

  /** Whether requests go through client-node (exec, auth-provider, proxy-url). */
  get delegated(): boolean {
    return this.#user?.plugin === true || this.#cluster.proxyUrl !== undefined;
  }

  /** Sets TLS material and headers on `options`; may run an exec plugin. Throws plain errors. */
  async applyTo(options: CredentialOptions): Promise<void> {
    if (this.delegated) {
      const kubeConfig = await (this.#delegate ??= this.#clientNode());
      // Sets ca, cert, key, rejectUnauthorized, servername, headers and an agent (the proxy's).
      await kubeConfig.applyToHTTPSOptions(options as https.RequestOptions);
    } else {
      await this.#applyOwn(options);
    }
    // client-node only knows `as`; the other impersonation fields are ours in both cases.
    if (this.#user !== undefined && Object.keys(this.#user.impersonate).length > 0) {
      options.headers = { ...options.headers, ...this.#user.impersonate };
    }
  }

  async #applyOwn(options: CredentialOptions): Promise<void> {
    const cluster = this.#cluster;
    const user = this.#user;
    if (cluster.insecureSkipTlsVerify) options.rejectUnauthorized = false;
    if (cluster.tlsServerName !== undefined) options.servername = cluster.tlsServerName;
    const ca = await material('certificate-authority', cluster.certificateAuthorityData, cluster.certificateAuthority);
    if (ca !== undefined) options.ca = ca;
    if (user === undefined) return;
    const cert = await material('client-certificate', user.clientCertificateData, user.clientCertificate);
    if (cert !== undefined) options.cert = cert;
    const key = await material('client-key', user.clientKeyData, user.clientKey);
    if (key !== undefined) options.key = key;
    const token = await bearerToken(user);
    if (token !== undefined) {
      options.headers = { ...options.headers, Authorization: `Bearer ${token}` };
    } else if (user.username !== undefined || user.password !== undefined) {
      const basic = Buffer.from(`${user.username ?? ''}:${user.password ?? ''}`).toString('base64');
      options.headers = { ...options.headers, Authorization: `Basic ${basic}` };
    }
  }

  async #clientNode(): Promise<KubeConfig> {
    const { contextName } = this.#entries;
    // A caller's own KubeConfig authenticates its current context itself,
    // custom authenticators and caches included; it is never switched to
    // another context behind the caller's back: a copy of the entries serves those.
    if (this.#kubeConfig?.getCurrentContext() === contextName) return this.#kubeConfig;
    const { KubeConfig } = await import('@kubernetes/client-node');
    const kubeConfig = new KubeConfig();
    const { context, clusterName, cluster, userName, user } = this.#entries;
    kubeConfig.loadFromString(JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: clusterName, cluster }],
      users: userName === '' ? [] : [{ name: userName, user }],
      contexts: [{ name: contextName, context }],
      'current-context': contextName,
    }));
    kubeConfig.setCurrentContext(contextName);
    return kubeConfig;
  }
}

/** PEM from `*-data` (base64) or from a file; kubectl refuses both, so there is no precedence. */
async function material(field: string, data: string | undefined, file: string | undefined): Promise<Buffer | undefined> {
  if (data !== undefined) return Buffer.from(data, 'base64');
  if (file === undefined) return undefined;
  try {
    return await readFile(file);
  } catch (error) {
    throw new Error(`cannot read ${field} ${file}: ${describe(error)}`, { cause: error });
  }
}

/**
 * client-go's rule: tokenFile, read at each request, wins over token, which
 * is the fallback when the file cannot be read.
 */
async function bearerToken(user: UserSettings): Promise<string | undefined> {
  if (user.tokenFile === undefined) return user.token;
  try {
    const token = (await readFile(user.tokenFile, 'utf8')).trim();
    if (token === '') throw new Error('the file is empty');
    return token;
  } catch (error) {
    if (user.token !== undefined) return user.token;
    throw new Error(`cannot read tokenFile ${user.tokenFile}: ${describe(error)}`, { cause: error });
  }
}

/** The context a command uses, checked. */
export interface ResolvedContext {
  readonly contextName: string;
  /** The cluster's server URL. */
  readonly server: string;
  /** The context's namespace, if it sets one. */
  readonly namespace: string | undefined;
  readonly credentials: KubeCredentials;
}

/**
 * Picks `contextName` (default: the current context) and checks its cluster
 * and user the way kubectl does before a request. Throws
 * RPF_ERR_CLIENT_KUBECONFIG.
 */
export function resolveContext(config: Kubeconfig, contextName?: string): ResolvedContext {
  if (contextName !== undefined && !config.contexts.has(contextName)) throw kubeconfigError(`context "${contextName}" does not exist`);
  const name = contextName ?? config.currentContext;
  if (name === undefined) throw kubeconfigError('the kubeconfig has no current context; pass --context');
  const context = config.contexts.get(name);
  if (context === undefined) throw kubeconfigError(`context "${name}" does not exist`);
  const fields = new FieldReader(context);
  const clusterName = fields.string('cluster') ?? '';
  const userName = fields.string('user') ?? '';
  const namespace = fields.string('namespace');
  if (fields.problems.length > 0) throw kubeconfigError(`context "${name}" in the kubeconfig: ${fields.problems.join('; ')}`);
  const clusterEntry = config.clusters.get(clusterName);
  const cluster = clusterEntry === undefined ? undefined : readCluster(clusterName, clusterEntry);
  if (clusterEntry === undefined || cluster === undefined || cluster.server === '') {
    throw kubeconfigError(`context "${name}" names cluster "${clusterName}", which has no server in the kubeconfig`);
  }
  // No user at all is anonymous access; a user that is not there is a mistake kubectl reports.
  const userEntry = userName === '' ? {} : config.users.get(userName);
  if (userEntry === undefined) throw kubeconfigError(`context "${name}" names user "${userName}", which is not in the kubeconfig`);
  const user = userName === '' ? undefined : readUser(userName, userEntry);
  const entries = { contextName: name, context, clusterName, cluster: clusterEntry, userName, user: userEntry };
  return { contextName: name, server: cluster.server, namespace, credentials: new KubeCredentials(entries, cluster, user, config.kubeConfig) };
}
