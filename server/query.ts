/**
 * The query of a tunnel request:
 *
 *   ports=PORT (repeated, at least one)   0-65535; 0 asks the agent for any free port;
 *                                          no port twice except 0; inside --allowed-ports
 *                                          (0 only when those allow every port: the kernel
 *                                          picks it, so no range can be promised)
 *   address=ADDR (repeated, optional)     an IPv4 or IPv6 literal or "localhost"
 *                                          (= 127.0.0.1 and ::1); default both loopbacks,
 *                                          which the agent applies itself (::1 best effort)
 *
 * Parsing is pure and reports every bad value as a Status cause with its
 * field path ("ports[1]"), quoting the value.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { DEFAULT_LISTEN_ADDRESSES } from '../protocol/index.ts';
import { RpfServerError } from './errors.ts';
import type { StatusCause } from './errors.ts';
import { coversAllPorts, formatPortRanges, inPortRanges } from './port-ranges.ts';
import type { PortRange } from './port-ranges.ts';

/** A validated tunnel request. */
export interface TunnelQuery {
  /** Requested ports in the pod, in order; 0 = any free port. */
  readonly ports: readonly number[];
  /** Addresses to listen on in the pod, normalised, without duplicates. */
  readonly addresses: readonly string[];
  /**
   * False when the request named no address (or only `localhost`): the agent
   * then applies its default, where ::1 is best effort for pods without IPv6.
   */
  readonly explicitAddresses: boolean;
}

/** Addresses used when the request names none: the agent's own default (protocol/agent-api.ts), which it applies when none is sent. */
export const DEFAULT_ADDRESSES: readonly string[] = DEFAULT_LISTEN_ADDRESSES;

/** Most ports and addresses one request may name. */
export const MAX_PORTS = 64;
export const MAX_ADDRESSES = 8;

/** Normalises an address literal: IPv6 to its canonical form, `localhost` to both loopbacks. */
export function normaliseAddress(text: string): readonly string[] | undefined {
  const bare = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  if (bare.toLowerCase() === 'localhost') return DEFAULT_ADDRESSES;
  if (isIPv4(bare)) return [bare];
  if (isIPv6(bare) && !bare.includes('%')) {
    try {
      return [new URL(`http://[${bare}]/`).hostname.slice(1, -1)];
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** True for 127.0.0.0/8 and ::1 (and IPv4-mapped 127/8): addresses other pods cannot reach. */
export function isLoopback(address: string): boolean {
  if (isIPv4(address)) return address.startsWith('127.');
  const lower = address.toLowerCase();
  if (lower === '::1') return true;
  // IPv4-mapped, dotted (as given) or hex (as normalised: ::ffff:7f00:1).
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (mapped !== null) return mapped[1]?.startsWith('127.') === true;
  return /^::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}$/.test(lower);
}

/**
 * Parses and validates the query. Throws RPF_ERR_SERVER_PORT_NOT_ALLOWED when
 * the only problems are ports outside the allowed ranges, else
 * RPF_ERR_SERVER_INVALID_QUERY with every problem as a cause.
 */
export function parseTunnelQuery(params: URLSearchParams, allowedPorts: readonly PortRange[]): TunnelQuery {
  const causes: StatusCause[] = [];
  let policyOnly = true;
  const invalid = (cause: StatusCause): void => {
    causes.push(cause);
    policyOnly = false;
  };

  const portTexts = params.getAll('ports');
  const ports: number[] = [];
  if (portTexts.length === 0) invalid({ reason: 'FieldValueRequired', message: 'at least one port is required (ports=N)', field: 'ports' });
  if (portTexts.length > MAX_PORTS) invalid({ reason: 'FieldValueTooMany', message: `at most ${MAX_PORTS} ports per request`, field: 'ports' });
  const seen = new Set<number>();
  const anyPortAllowed = coversAllPorts(allowedPorts);
  portTexts.forEach((text, i) => {
    const field = `ports[${i}]`;
    const n = Number(text);
    if (!/^[0-9]{1,5}$/.test(text) || n > 65535) {
      invalid({ reason: 'FieldValueInvalid', message: `Invalid value: "${text}": must be a port number 0-65535`, field });
      return;
    }
    if (n !== 0 && seen.has(n)) {
      invalid({ reason: 'FieldValueDuplicate', message: `Duplicate value: ${n}`, field });
      return;
    }
    if (n === 0 && !anyPortAllowed) {
      causes.push({
        reason: 'FieldValueForbidden',
        message: `Forbidden: port 0 (any free port) may fall outside the allowed ports ${formatPortRanges(allowedPorts)}: name a port in the allowed ranges`,
        field,
      });
    } else if (n !== 0 && !inPortRanges(allowedPorts, n)) {
      causes.push({ reason: 'FieldValueForbidden', message: `Forbidden: port ${n} is outside the allowed ports ${formatPortRanges(allowedPorts)}`, field });
    }
    seen.add(n);
    ports.push(n);
  });

  const addressTexts = params.getAll('address');
  const addresses: string[] = [];
  let explicitAddresses = false;
  if (addressTexts.length > MAX_ADDRESSES) invalid({ reason: 'FieldValueTooMany', message: `at most ${MAX_ADDRESSES} addresses per request`, field: 'address' });
  addressTexts.forEach((text, i) => {
    const normalised = normaliseAddress(text);
    if (normalised === undefined) {
      invalid({ reason: 'FieldValueInvalid', message: `Invalid value: "${text}": must be an IPv4 or IPv6 address or localhost`, field: `address[${i}]` });
      return;
    }
    if (normalised !== DEFAULT_ADDRESSES) explicitAddresses = true;
    for (const a of normalised) if (!addresses.includes(a)) addresses.push(a);
  });

  if (causes.length > 0) {
    const code = policyOnly ? 'RPF_ERR_SERVER_PORT_NOT_ALLOWED' : 'RPF_ERR_SERVER_INVALID_QUERY';
    const summary = causes.map((c) => `${c.field ?? ''}: ${c.message}`).join(', ');
    const message = policyOnly ? `port not allowed: ${summary}` : `invalid reverse port-forward request: ${summary}`;
    throw new RpfServerError(code, message, { causes });
  }
  return { ports, addresses: addresses.length > 0 ? addresses : DEFAULT_ADDRESSES, explicitAddresses };
}
