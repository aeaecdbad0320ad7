/**
 * Serves the OpenAPI documents: `/openapi/v2`, the v3 index `/openapi/v3` and
 * `/openapi/v3/apis/rpf.kube-rpf.dev/v1alpha1`, with ETags as kube-openapi's
 * handlers set them. kube-aggregator fetches v2 with `Accept:
 * application/json` and sends back our ETag in `If-None-Match` on every
 * refresh, so an unchanged document costs a 304; it fetches the v3 index
 * itself and proxies clients' requests for the group version's document to
 * us, `?hash=` included (any other /openapi/ path is a 404 Status).
 *
 * Every answer is JSON, whatever the Accept header: kube-aggregator asks for
 * nothing else, and protobuf is what kube-apiserver itself offers clients.
 */
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Clock } from './clock.ts';
import { sendTyped } from './media-type.ts';
import { openApiV2, openApiV3, openApiV3Index, V3_GROUP_VERSION_PATH } from './openapi.ts';

/** A document serialized once, with its hash. */
interface Serialized {
  readonly body: string;
  /** SHA-512 of the body in upper-case hex, as kube-openapi computes ETags and v3 hashes. */
  readonly hash: string;
}

function serialize(doc: object): Serialized {
  const body = JSON.stringify(doc);
  return { body, hash: createHash('sha512').update(body).digest('hex').toUpperCase() };
}

/** True when an If-None-Match header names this entity tag (weak or strong) or is `*`. */
export function ifNoneMatchHits(header: string | string[] | undefined, etag: string): boolean {
  if (header === undefined) return false;
  const tags = (Array.isArray(header) ? header.join(',') : header).split(',').map((t) => t.trim().replace(/^W\//, ''));
  return tags.includes('*') || tags.includes(etag);
}

function send(request: FastifyRequest, reply: FastifyReply, doc: Serialized, cacheControl: string): FastifyReply {
  const etag = `"${doc.hash}"`;
  reply.header('etag', etag).header('vary', 'Accept').header('cache-control', cacheControl);
  if (ifNoneMatchHits(request.headers['if-none-match'], etag)) return reply.code(304).send();
  return sendTyped(reply.code(200), 'application/json', doc.body);
}

/**
 * Registers /openapi/v2, /openapi/v3 and the group version's v3 document. The
 * documents are fixed for the life of the process: built once, here.
 */
export function registerOpenApiRoutes(app: FastifyInstance, clock: Clock): void {
  const v2 = serialize(openApiV2());
  const v3 = serialize(openApiV3());
  const index = serialize(openApiV3Index(v3.hash));
  const v3Path = `/openapi/v3/${V3_GROUP_VERSION_PATH}`;

  app.get('/openapi/v2', (request, reply) => send(request, reply, v2, 'no-cache, private'));
  app.get('/openapi/v3', (request, reply) => send(request, reply, index, 'no-cache, private'));
  app.get<{ Querystring: { hash?: string | string[] } }>(v3Path, (request, reply) => {
    if (request.query.hash !== v3.hash) {
      // No hash, or one from an index kube-apiserver read before we restarted with another
      // document (it re-reads the index once a minute). kube-openapi's handler3 redirects to the
      // current hash, but kube-aggregator turns a proxied redirect into a 502
      // (--aggregator-reject-forwarding-redirect), so answer with the current document, not to be
      // cached under this URL.
      return send(request, reply, v3, 'no-cache, private');
    }
    // The URL names this exact document, so it may be cached for good (handler3 says the same).
    reply.header('expires', new Date(clock.now() + 365 * 24 * 3600 * 1000).toUTCString());
    return send(request, reply, v3, 'public, immutable');
  });
}
