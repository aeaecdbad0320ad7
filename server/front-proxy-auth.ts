/**
 * Front-proxy authentication: rpf-server trusts the user kube-apiserver names
 * in X-Remote-* headers only on a connection whose client certificate chains
 * to the requestheader CA of kube-system/extension-apiserver-authentication,
 * has ClientAuth usage and (when the list is not empty) an allowed CN
 * (k8s.io/apiserver pkg/authentication/request/x509 and headerrequest).
 * The ConfigMap is re-read periodically: its CAs rotate.
 */
import { X509Certificate } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { Clock } from './clock.ts';
import { RpfServerError } from './errors.ts';
import type { KubeClient } from './kube-client.ts';

/** The authenticated user, as kube-apiserver asserted it. */
export interface UserInfo {
  readonly user: string;
  readonly groups: readonly string[];
  readonly uid: string;
  readonly extra: Readonly<Record<string, readonly string[]>>;
}

/** The requestheader settings of the authentication ConfigMap. */
export interface FrontProxyConfig {
  /** The requestheader CA bundle, PEM, as published. */
  readonly caPem: string;
  readonly cas: readonly X509Certificate[];
  readonly allowedNames: readonly string[];
  readonly usernameHeaders: readonly string[];
  readonly groupHeaders: readonly string[];
  readonly extraHeaderPrefixes: readonly string[];
  readonly uidHeaders: readonly string[];
}

/** Namespace and name of the ConfigMap kube-apiserver publishes. */
export const AUTH_CONFIGMAP = { namespace: 'kube-system', name: 'extension-apiserver-authentication' } as const;

const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const ANY_EXTENDED_KEY_USAGE = '2.5.29.37.0';
const MAX_CHAIN = 8;

/** Splits a PEM bundle into certificates; anything unparsable is skipped. */
export function parsePemBundle(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  const certs: X509Certificate[] = [];
  for (const block of blocks) {
    try {
      certs.push(new X509Certificate(block));
    } catch {
      // One bad block must not hide the good ones.
    }
  }
  return certs;
}

function jsonList(text: string | undefined, fallback: readonly string[]): readonly string[] {
  if (text === undefined) return fallback;
  try {
    const value: unknown = JSON.parse(text);
    if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string' && v !== '');
  } catch {
    // kube-apiserver always writes JSON; anything else counts as empty.
  }
  return [];
}

/**
 * Reads the ConfigMap's data. Header lists missing from it fall back to
 * X-Remote-User / X-Remote-Group / X-Remote-Extra- / X-Remote-Uid; a list
 * that is present but empty stays empty.
 */
export function parseFrontProxyConfig(data: Readonly<Record<string, string>>): FrontProxyConfig {
  const caPem = data['requestheader-client-ca-file'] ?? '';
  return {
    caPem,
    cas: parsePemBundle(caPem),
    allowedNames: jsonList(data['requestheader-allowed-names'], []),
    usernameHeaders: jsonList(data['requestheader-username-headers'], ['X-Remote-User']),
    groupHeaders: jsonList(data['requestheader-group-headers'], ['X-Remote-Group']),
    extraHeaderPrefixes: jsonList(data['requestheader-extra-headers-prefix'], ['X-Remote-Extra-']),
    uidHeaders: jsonList(data['requestheader-uid-headers'], ['X-Remote-Uid']),
  };
}

function validAt(cert: X509Certificate, now: number): boolean {
  return Date.parse(cert.validFrom) <= now && now <= Date.parse(cert.validTo);
}

function issues(issuer: X509Certificate, cert: X509Certificate): boolean {
  try {
    return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

/** The first CN of a certificate's subject ('' when none). */
export function commonName(cert: X509Certificate): string {
  for (const line of cert.subject.split('\n')) {
    if (line.startsWith('CN=')) return line.slice(3);
  }
  return '';
}

/**
 * Verifies a presented chain (leaf first) against the requestheader CAs:
 * each link's signature and validity, ClientAuth usage on the leaf, the CN.
 * Returns undefined when the chain is good, else why not.
 */
export function verifyClientChain(chain: readonly X509Certificate[], config: FrontProxyConfig, now: number): string | undefined {
  const leaf = chain[0];
  if (leaf === undefined) return 'no client certificate';
  if (config.cas.length === 0) return 'no requestheader-client-ca-file is published';
  if (!validAt(leaf, now)) return 'the client certificate has expired or is not yet valid';
  // As Go's x509 verification: no extendedKeyUsage means any usage.
  const usages = leaf.keyUsage;
  if (usages !== undefined && !usages.includes(CLIENT_AUTH) && !usages.includes(ANY_EXTENDED_KEY_USAGE)) {
    return 'the client certificate is not for client authentication';
  }
  let current = leaf;
  let anchored = false;
  const used = new Set<string>([leaf.fingerprint256]);
  for (let depth = 0; depth < MAX_CHAIN && !anchored; depth++) {
    if (config.cas.some((ca) => validAt(ca, now) && (ca.fingerprint256 === current.fingerprint256 || issues(ca, current)))) {
      anchored = true;
      break;
    }
    const next = chain.find((c) => !used.has(c.fingerprint256) && c.ca && validAt(c, now) && issues(c, current));
    if (next === undefined) break;
    used.add(next.fingerprint256);
    current = next;
  }
  if (!anchored) return 'the client certificate is not signed by the requestheader CA';
  if (config.allowedNames.length > 0 && !config.allowedNames.includes(commonName(leaf))) {
    return `the client certificate's CN "${commonName(leaf)}" is not in requestheader-allowed-names`;
  }
  return undefined;
}

/** The certificates a TLS peer presented, leaf first (empty without one). */
export function peerChain(socket: TLSSocket): X509Certificate[] {
  const chain: X509Certificate[] = [];
  if (typeof socket.getPeerCertificate !== 'function') return chain;
  let cert = socket.getPeerCertificate(true);
  const seen = new Set<string>();
  while (cert !== undefined && cert !== null && cert.raw !== undefined && chain.length < MAX_CHAIN + 1) {
    if (seen.has(cert.fingerprint256)) break;
    seen.add(cert.fingerprint256);
    try {
      chain.push(new X509Certificate(cert.raw));
    } catch {
      break;
    }
    cert = cert.issuerCertificate;
  }
  return chain;
}

/** Header values by lowercased name, as {@link distinctHeaders} gives them. */
export type HeaderValues = Readonly<Record<string, readonly string[] | undefined>>;

/**
 * Each header's values kept apart (a repeated X-Remote-Group is several
 * groups), read from rawHeaders, names lowercased. The map has no prototype:
 * header names are chosen by the peer, and `__proto__` or `constructor` must
 * be just names.
 */
export function distinctHeaders(req: Pick<IncomingMessage, 'rawHeaders'>): Record<string, string[]> {
  const out = Object.create(null) as Record<string, string[]>;
  const raw = req.rawHeaders ?? [];
  for (let i = 0; i + 1 < raw.length; i += 2) (out[(raw[i] ?? '').toLowerCase()] ??= []).push(raw[i + 1] ?? '');
  return out;
}

function headerValues(headers: HeaderValues, name: string): readonly string[] {
  const key = name.toLowerCase();
  // Callers may pass plain objects: never read an inherited member as a header.
  return Object.hasOwn(headers, key) ? (headers[key] ?? []) : [];
}

/**
 * A header value as text. kube-apiserver writes user names, groups and extra
 * values as UTF-8 bytes; Node's parser hands every header byte over as one
 * Latin-1 character, so the bytes are put back together and read as UTF-8
 * (invalid sequences become U+FFFD, as Go's JSON encoding of the same bytes
 * does in kube-apiserver's own SubjectAccessReviews).
 */
export function utf8HeaderValue(value: string): string {
  return Buffer.from(value, 'latin1').toString('utf8');
}

/**
 * An X-Remote-Extra-* key as kube-apiserver reads it (headerrequest's
 * newExtra): lowercased, then %-unescaped as Go's url.PathUnescape does, the
 * bytes read as UTF-8; a malformed escape leaves the lowercased key as it is.
 */
export function unescapeExtraKey(key: string): string {
  const lower = key.toLowerCase();
  const bytes: number[] = [];
  for (let i = 0; i < lower.length; i++) {
    const c = lower.charCodeAt(i);
    if (c !== 0x25) {
      // Header names are ASCII tokens (Node's parser refuses anything else).
      bytes.push(c & 0xff);
      continue;
    }
    const hex = lower.slice(i + 1, i + 3);
    if (!/^[0-9a-f]{2}$/.test(hex)) return lower;
    bytes.push(Number.parseInt(hex, 16));
    i += 2;
  }
  return Buffer.from(bytes).toString('utf8');
}

/**
 * Reads the user from the request headers (each header's values separately,
 * as {@link distinctHeaders} gives them), every value decoded as UTF-8.
 * Undefined without a user.
 */
export function userFromHeaders(headers: HeaderValues, config: FrontProxyConfig): UserInfo | undefined {
  let user = '';
  for (const h of config.usernameHeaders) {
    user = headerValues(headers, h).find((v) => v !== '') ?? '';
    if (user !== '') break;
  }
  if (user === '') return undefined;
  const groups = config.groupHeaders.flatMap((h) => headerValues(headers, h)).map(utf8HeaderValue);
  let uid = '';
  for (const h of config.uidHeaders) {
    uid = headerValues(headers, h).find((v) => v !== '') ?? '';
    if (uid !== '') break;
  }
  // Keys come from the peer's header names: no prototype to collide with.
  const extra = Object.create(null) as Record<string, string[]>;
  for (const prefix of config.extraHeaderPrefixes.map((p) => p.toLowerCase())) {
    for (const [name, values] of Object.entries(headers)) {
      if (!name.startsWith(prefix) || name.length === prefix.length || values === undefined) continue;
      const key = unescapeExtraKey(name.slice(prefix.length));
      (extra[key] ??= []).push(...values.map(utf8HeaderValue));
    }
  }
  return { user: utf8HeaderValue(user), groups, uid: utf8HeaderValue(uid), extra };
}

/** What {@link FrontProxyAuthenticator} needs. */
export interface FrontProxyAuthDeps {
  readonly kube: KubeClient;
  readonly clock: Clock;
  readonly logger: Logger;
  /** How often to re-read the ConfigMap once loaded (ms). */
  readonly refreshMs?: number;
  /** How soon to retry while it was never loaded (ms). */
  readonly retryMs?: number;
  /** Called with the new CA bundle whenever it changes (to update the TLS server's CA list). */
  readonly onCaChange?: (caPem: string) => void;
}

interface CachedVerdict {
  readonly config: FrontProxyConfig;
  readonly at: number;
  readonly error: string | undefined;
}

/** What the server needs of an authenticator (tests inject a stand-in for inject()-based tests). */
export interface RequestAuthenticator {
  /** True once requests can be authenticated. */
  readonly ready: boolean;
  /** The user of a request; throws a 401 RpfServerError. */
  authenticate(req: IncomingMessage): UserInfo;
  start(): void;
  stop(): void;
}

/** Authenticates kube-apiserver's proxied requests; holds the ConfigMap's current contents. */
export class FrontProxyAuthenticator implements RequestAuthenticator {
  readonly #deps: FrontProxyAuthDeps;
  #config: FrontProxyConfig | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  // A connection's certificate does not change: verify it once per config (and minute).
  readonly #verdicts = new WeakMap<object, CachedVerdict>();

  constructor(deps: FrontProxyAuthDeps) {
    this.#deps = deps;
  }

  /** True once the ConfigMap was loaded. */
  get ready(): boolean {
    return this.#config !== undefined;
  }

  /** The current settings (undefined before the first load). */
  get config(): FrontProxyConfig | undefined {
    return this.#config;
  }

  /** Replaces the settings (the loader calls this; tests too). */
  setConfig(config: FrontProxyConfig): void {
    const changed = this.#config?.caPem !== config.caPem;
    this.#config = config;
    if (changed) this.#deps.onCaChange?.(config.caPem);
  }

  /** Reads the ConfigMap once; throws when it cannot be read. */
  async load(): Promise<void> {
    const data = await this.#deps.kube.getConfigMapData(AUTH_CONFIGMAP.namespace, AUTH_CONFIGMAP.name);
    if (data === undefined) throw new Error(`ConfigMap ${AUTH_CONFIGMAP.namespace}/${AUTH_CONFIGMAP.name} not found`);
    this.setConfig(parseFrontProxyConfig(data));
  }

  /** Loads now and keeps re-loading in the background until {@link stop}. */
  start(): void {
    const tick = async (): Promise<void> => {
      try {
        await this.load();
      } catch (err) {
        this.#deps.logger.warn({ err }, 'cannot read the front-proxy authentication ConfigMap');
      }
      if (this.#stopped) return;
      const delay = this.ready ? (this.#deps.refreshMs ?? 30_000) : (this.#deps.retryMs ?? 2_000);
      this.#timer = setTimeout(() => void tick(), delay);
      this.#timer.unref();
    };
    void tick();
  }

  /** Stops re-loading. */
  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
  }

  /** Checks a presented chain and headers; throws a 401 RpfServerError or returns the user. */
  authenticateChain(chain: readonly X509Certificate[], headers: HeaderValues): UserInfo {
    const config = this.#config;
    if (config === undefined) throw unauthenticated('the front-proxy authentication configuration is not loaded yet');
    const error = verifyClientChain(chain, config, this.#deps.clock.now());
    if (error !== undefined) throw unauthenticated(error);
    return this.#user(headers, config);
  }

  /** Authenticates an HTTP request by its connection's certificate, then its headers. */
  authenticate(req: IncomingMessage): UserInfo {
    const config = this.#config;
    if (config === undefined) throw unauthenticated('the front-proxy authentication configuration is not loaded yet');
    const socket = req.socket as TLSSocket;
    const now = this.#deps.clock.now();
    let verdict = this.#verdicts.get(socket);
    if (verdict === undefined || verdict.config !== config || now - verdict.at > 60_000) {
      verdict = { config, at: now, error: verifyClientChain(peerChain(socket), config, now) };
      this.#verdicts.set(socket, verdict);
    }
    if (verdict.error !== undefined) throw unauthenticated(verdict.error);
    return this.#user(distinctHeaders(req), config);
  }

  #user(headers: HeaderValues, config: FrontProxyConfig): UserInfo {
    const user = userFromHeaders(headers, config);
    if (user === undefined) throw unauthenticated('the request names no user');
    return user;
  }
}

function unauthenticated(why: string): RpfServerError {
  return new RpfServerError('RPF_ERR_SERVER_UNAUTHENTICATED', `Unauthorized: ${why}`);
}
