/**
 * The Accept header as Kubernetes clients use it: media types with `g`, `v`
 * and `as` parameters select discovery documents and server-side tables
 * (`application/json;as=Table;v=v1;g=meta.k8s.io`).
 */
import type { FastifyReply } from 'fastify';

/** One media range of an Accept header. */
export interface MediaRange {
  /** `type/subtype`, lowercased. */
  readonly type: string;
  /** Parameters (names lowercased, values as sent, without quotes). */
  readonly params: Readonly<Record<string, string>>;
  readonly q: number;
}

/** Parses an Accept header into media ranges, highest q first (stable). */
export function parseAccept(header: string | undefined): MediaRange[] {
  if (header === undefined || header.trim() === '') return [{ type: '*/*', params: {}, q: 1 }];
  const ranges: MediaRange[] = [];
  for (const part of header.split(',')) {
    const [typeText, ...paramTexts] = part.split(';');
    const type = (typeText ?? '').trim().toLowerCase();
    if (type === '') continue;
    // Parameter names come from the peer: no prototype for `__proto__` or `constructor` to hit.
    const params = Object.create(null) as Record<string, string>;
    let q = 1;
    for (const p of paramTexts) {
      const eq = p.indexOf('=');
      if (eq < 0) continue;
      const name = p.slice(0, eq).trim().toLowerCase();
      const value = p.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
      if (name === 'q') q = Number.isFinite(Number(value)) ? Number(value) : 0;
      else params[name] = value;
    }
    ranges.push({ type, params, q });
  }
  return ranges.filter((r) => r.q > 0).sort((a, b) => b.q - a.q);
}

/** True when a range accepts JSON (application/json, application/*, or anything). */
export function acceptsJson(range: MediaRange): boolean {
  return range.type === 'application/json' || range.type === 'application/*' || range.type === '*/*';
}

/** The first range asking for `as` in group `g` (any version in `versions`), if any. */
export function findAs(ranges: readonly MediaRange[], as: string, group: string, versions: readonly string[]): MediaRange | undefined {
  return ranges.find(
    (r) => r.type === 'application/json' && r.params['as'] === as && r.params['g'] === group && versions.includes(r.params['v'] ?? ''),
  );
}

/** Formats a range back as a Content-Type, parameters in `g;v;as` order as Kubernetes writes them. */
export function formatAs(as: string, group: string, version: string): string {
  return `application/json;g=${group};v=${version};as=${as}`;
}

/**
 * Sends a body with its Content-Type exactly as given: fastify re-quotes the
 * parameters of a JSON type set through reply.type() and appends a charset,
 * but clients compare discovery and Table media types as written.
 */
export function sendTyped(reply: FastifyReply, contentType: string, body: string): FastifyReply {
  return reply.header('content-type', contentType).send(Buffer.from(body, 'utf8'));
}
