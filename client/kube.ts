// The client's view of the cluster: which kubeconfig, context, server and
// namespace a command uses, and the few reads it makes before the tunnel
// (the APIService, pods, the target's selector). The kubeconfig and its
// credentials come from kubeconfig.ts (client-node only for exec plugins,
// auth providers and proxies); requests are plain node:http(s) so every
// refusal keeps its Status message.

import type { IncomingHttpHeaders } from 'node:http';
import type { RequestOptions } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { RpfClientError } from './errors.ts';
import { http, https } from './node-http.ts';
import { resolveContext } from './kube-credentials.ts';
import type { CredentialOptions, KubeCredentials } from './kube-credentials.ts';
import { loadKubeconfig } from './kubeconfig.ts';
import { statusError } from './status-error.ts';

/** Name of the APIService kube-rpf installs. */
export const APISERVICE_NAME = 'v1alpha1.rpf.kube-rpf.dev';

/** Where a command talks to: the kubeconfig's context, its cluster and the credentials of its user. */
export interface KubeContext {
  /** Credentials of the context's user; {@link requestOptions} applies them to each request. */
  readonly credentials: KubeCredentials;
  /** Name of the context in use. */
  readonly contextName: string;
  /** The cluster's server URL, e.g. `https://10.0.0.1:6443`. */
  readonly server: string;
  /** Namespace of the target: the flag, else the context's, else `default`. */
  readonly namespace: string;
}

/** What {@link loadKubeContext} starts from. */
export interface KubeContextOptions {
  /** A client-node KubeConfig (duck-typed), or the path of a kubeconfig file; default $KUBECONFIG, then ~/.kube/config. */
  kubeconfig?: KubeConfig | string;
  /** Context to use instead of the current one. */
  context?: string;
  /** Namespace to use instead of the context's. */
  namespace?: string;
}

/**
 * Loads the kubeconfig and picks context, cluster and namespace the way
 * kubectl does. Throws RPF_ERR_CLIENT_KUBECONFIG.
 */
export function loadKubeContext(options: KubeContextOptions = {}): KubeContext {
  const { contextName, server, namespace, credentials } = resolveContext(loadKubeconfig(options.kubeconfig), options.context);
  return { credentials, contextName, server, namespace: options.namespace || namespace || 'default' };
}

/** The URL of an API path on the cluster's server, keeping any path prefix the server URL has. */
export function apiUrl(server: string, path: string, query?: URLSearchParams): URL {
  const url = new URL(server);
  url.pathname = `${url.pathname.replace(/\/+$/, '')}${path}`;
  url.search = query === undefined ? '' : query.toString();
  return url;
}

/**
 * TLS material and headers for requests to the cluster, for https.request and
 * the ws constructor alike (may run an exec plugin). Throws
 * RPF_ERR_CLIENT_CREDENTIALS.
 */
export async function requestOptions<T extends { headers?: Record<string, string> }>(credentials: KubeCredentials, base: T): Promise<T & { headers: Record<string, string> }> {
  const options = { ...base, headers: { ...base.headers } };
  try {
    await credentials.applyTo(options as CredentialOptions);
  } catch (error) {
    throw new RpfClientError('RPF_ERR_CLIENT_CREDENTIALS', `cannot get credentials for user "${credentials.userName}": ${(error as Error).message}`, { cause: error });
  }
  return options;
}

/** The error for a request that reached no HTTP answer. */
export function connectError(server: string, error: unknown): RpfClientError {
  return new RpfClientError('RPF_ERR_CLIENT_CONNECT_FAILED', `unable to connect to the server ${server}: ${(error as Error).message}`, { cause: error });
}

/** The reads kubectl-rpf makes; tests inject a fake. */
export interface KubeReader {
  /**
   * The JSON object at an API path (`/api/v1/namespaces/NS/pods/NAME`), or
   * undefined when the server answers 404. Other refusals throw an
   * RpfClientError (FORBIDDEN, UNAUTHORIZED, UPSTREAM, CONNECT_FAILED...).
   */
  get<T = unknown>(path: string, query?: URLSearchParams): Promise<T | undefined>;
}

/** Options of {@link KubeApiClient}. */
export interface KubeApiClientOptions {
  /** Time allowed for one request (default 30 s). */
  timeoutMs?: number;
  /** User-Agent header. */
  userAgent?: string;
}

/** {@link KubeReader} over the cluster of a {@link KubeContext}. */
export class KubeApiClient implements KubeReader {
  readonly #context: KubeContext;
  readonly #timeoutMs: number;
  readonly #userAgent: string;

  constructor(context: KubeContext, options: KubeApiClientOptions = {}) {
    this.#context = context;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#userAgent = options.userAgent ?? 'kubectl-rpf';
  }

  async get<T = unknown>(path: string, query?: URLSearchParams): Promise<T | undefined> {
    const url = apiUrl(this.#context.server, path, query);
    const options = await requestOptions(this.#context.credentials, {
      method: 'GET',
      headers: { Accept: 'application/json', 'User-Agent': this.#userAgent },
    } satisfies RequestOptions);
    const { status, headers, body } = await new Promise<{ status: number; headers: IncomingHttpHeaders; body: string }>((resolve, reject) => {
      const request = (url.protocol === 'http:' ? http : https).request(url, options, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') }));
        response.on('error', (error) => reject(connectError(this.#context.server, error)));
      });
      // On the request, not in the options: those also shape the shared agent.
      request.setTimeout(this.#timeoutMs);
      request.on('timeout', () => request.destroy(new Error(`no answer within ${this.#timeoutMs} ms`)));
      request.on('error', (error) => reject(connectError(this.#context.server, error)));
      request.end();
    });
    if (status === 404) return undefined;
    if (status < 200 || status > 299) throw statusError(status, headers, body, `GET ${path}`);
    try {
      return JSON.parse(body) as T;
    } catch (error) {
      throw new RpfClientError('RPF_ERR_CLIENT_UPSTREAM', `GET ${path}: the server answered ${status} with a body that is not JSON`, { cause: error, status });
    }
  }
}

interface APIServiceObject {
  status?: { conditions?: Array<{ type?: string; status?: string; reason?: string; message?: string }> };
}

/**
 * Checks that kube-rpf is installed before a tunnel is attempted, so a
 * missing install reads as such rather than as a 404 on a pod subresource.
 * A user who may not read APIServices (403) skips the check.
 */
export async function checkInstalled(reader: KubeReader): Promise<void> {
  let apiService: APIServiceObject | undefined;
  try {
    apiService = await reader.get<APIServiceObject>(`/apis/apiregistration.k8s.io/v1/apiservices/${APISERVICE_NAME}`);
  } catch (error) {
    if (error instanceof RpfClientError && error.code === 'RPF_ERR_CLIENT_FORBIDDEN') return;
    throw error;
  }
  if (apiService === undefined) {
    throw new RpfClientError('RPF_ERR_CLIENT_NOT_INSTALLED', `kube-rpf is not installed in this cluster (APIService ${APISERVICE_NAME} not found)`);
  }
  const available = apiService.status?.conditions?.find((c) => c.type === 'Available');
  if (available?.status === 'False') {
    const why = [available.reason, available.message].filter(Boolean).join(': ');
    throw new RpfClientError(
      'RPF_ERR_CLIENT_NOT_AVAILABLE',
      `kube-rpf is installed but not available (APIService ${APISERVICE_NAME}${why ? `: ${why}` : ''})`,
    );
  }
}
