// Version negotiation through the WebSocket subprotocol. The client offers
// every version it speaks (Sec-WebSocket-Protocol, most preferred first); the
// agent picks the first offer it speaks, or refuses the upgrade with a message
// that names both sides' versions and which side to upgrade.

import { SUPPORTED_SUBPROTOCOLS } from './constants.ts';
import { RpfProtocolError } from './errors.ts';

const VERSION_PATTERN = /^v([1-9][0-9]*)\.rpf\.kube-rpf\.dev$/;

/** Outcome of a negotiation: the chosen subprotocol, or a VERSION_MISMATCH error to report. */
export type SubprotocolResult = { ok: true; protocol: string } | { ok: false; error: RpfProtocolError };

/** The protocol version a subprotocol names (`v3.rpf.kube-rpf.dev` -> 3), or undefined for another protocol. */
export function subprotocolVersion(subprotocol: string): number | undefined {
  const match = VERSION_PATTERN.exec(subprotocol);
  return match === null ? undefined : Number(match[1]);
}

/**
 * Splits `Sec-WebSocket-Protocol` values ("a, b" or repeated headers) into
 * tokens, in order. Accepts what Node and ws hand over: a string, an array of
 * header values, or a Set of tokens.
 */
export function parseSubprotocols(offered: string | Iterable<string> | undefined): string[] {
  if (offered === undefined) return [];
  const values = typeof offered === 'string' ? [offered] : [...offered];
  return values.flatMap((v) => v.split(',')).map((t) => t.trim()).filter((t) => t.length > 0);
}

/** The `Sec-WebSocket-Protocol` value a client sends: every version it speaks, preferred first. */
export function subprotocolHeader(supported: readonly string[] = SUPPORTED_SUBPROTOCOLS): string {
  return supported.join(', ');
}

function list(protocols: readonly string[]): string {
  return protocols.length === 0 ? 'none' : protocols.join(', ');
}

function versions(protocols: readonly string[]): number[] {
  return protocols.map(subprotocolVersion).filter((v): v is number => v !== undefined);
}

// Which side is behind, when the version ranges do not overlap.
function advice(clientVersions: number[], agentVersions: number[]): string {
  if (clientVersions.length === 0 || agentVersions.length === 0) return 'upgrade kubectl-rpf or the cluster';
  if (Math.max(...clientVersions) < Math.min(...agentVersions)) return 'upgrade kubectl-rpf';
  if (Math.min(...clientVersions) > Math.max(...agentVersions)) return 'upgrade kube-rpf in the cluster';
  return 'upgrade kubectl-rpf or the cluster';
}

function mismatch(message: string): SubprotocolResult {
  return { ok: false, error: new RpfProtocolError('RPF_ERR_PROTOCOL_VERSION_MISMATCH', message) };
}

/**
 * Agent side: picks the first subprotocol the client offers that this build
 * speaks. On failure the error (RPF_ERR_PROTOCOL_VERSION_MISMATCH) is meant for
 * the user: answer the upgrade with it (HTTP 400 with a Status) instead of 101.
 */
export function selectSubprotocol(
  offered: string | Iterable<string> | undefined,
  supported: readonly string[] = SUPPORTED_SUBPROTOCOLS,
): SubprotocolResult {
  const offers = parseSubprotocols(offered);
  const protocol = offers.find((p) => supported.includes(p));
  if (protocol !== undefined) return { ok: true, protocol };
  const ours = offers.filter((p) => subprotocolVersion(p) !== undefined);
  if (ours.length === 0) {
    return mismatch(
      `kube-rpf protocol mismatch: client offers no kube-rpf protocol version (Sec-WebSocket-Protocol: ${list(offers)}), ` +
        `agent speaks ${list(supported)}; connect with kubectl-rpf`,
    );
  }
  return mismatch(
    `kube-rpf protocol mismatch: client offers ${list(ours)}, agent speaks ${list(supported)}; ` +
      advice(versions(ours), versions(supported)),
  );
}

/**
 * Client side, after the handshake: checks the subprotocol the server chose
 * (`ws.protocol`; empty when it chose none) against what the client offered.
 */
export function checkAcceptedSubprotocol(
  accepted: string | undefined,
  offered: readonly string[] = SUPPORTED_SUBPROTOCOLS,
): SubprotocolResult {
  if (accepted !== undefined && accepted !== '' && offered.includes(accepted)) return { ok: true, protocol: accepted };
  if (accepted === undefined || accepted === '') {
    return mismatch(
      `kube-rpf protocol mismatch: client offers ${list(offered)}, the cluster accepted none of them; upgrade kubectl-rpf or the cluster`,
    );
  }
  return mismatch(
    `kube-rpf protocol mismatch: client offers ${list(offered)}, agent chose ${accepted}; ` +
      advice(versions(offered), versions([accepted])),
  );
}
