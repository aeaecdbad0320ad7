// Port specs of `kubectl rpf`, after KEP-5695. The grammar:
//
//   spec   = REMOTE ":" LOCAL      connections to REMOTE in the pod reach localhost:LOCAL here
//          | PORT                  the same port on both sides (PORT:PORT)
//   REMOTE = 0-65535               0 asks the agent for any free port in the pod
//   LOCAL  = 1-65535
//   PORT   = 1-65535
//
// Numbers are decimal digits only (no sign, no spaces, at most 5 digits), as
// kubectl reads them. A non-zero REMOTE may appear once per command; several
// specs may share a LOCAL, and several may ask for 0. Errors quote the bad
// token: `invalid port spec "80a:3000": remote port "80a" is not a number`.

import { RpfClientError } from './errors.ts';

/** One forwarding: a port in the pod and the local port its connections reach. */
export interface PortMapping {
  /** Port in the pod; 0 = any free port, chosen by the agent. */
  remote: number;
  /** Port on this machine that connections are dialed to. */
  local: number;
}

const DIGITS = /^[0-9]{1,5}$/;

function portNumber(token: string, min: number): number | undefined {
  if (!DIGITS.test(token)) return undefined;
  const n = Number(token);
  return n >= min && n <= 65535 ? n : undefined;
}

/** Parses one spec; returns the mapping or the reason it is invalid (without the quoted spec). */
function parseOne(text: string): PortMapping | string {
  if (text === '') return 'empty port spec';
  const parts = text.split(':');
  if (parts.length > 2) return 'expected REMOTE:LOCAL with one colon';
  if (parts.length === 1) {
    const port = portNumber(text, 1);
    if (port !== undefined) return { remote: port, local: port };
    if (DIGITS.test(text) && Number(text) === 0) return 'a lone port must be 1-65535; use 0:LOCAL to let the pod pick a free port';
    return `port "${text}" is not a number between 1 and 65535`;
  }
  const [remoteText = '', localText = ''] = parts;
  const problems: string[] = [];
  const remote = portNumber(remoteText, 0);
  if (remote === undefined) {
    problems.push(remoteText === '' ? 'remote port is missing' : `remote port "${remoteText}" is not a number between 0 and 65535`);
  }
  const local = portNumber(localText, 1);
  if (local === undefined) {
    problems.push(localText === '' ? 'local port is missing' : `local port "${localText}" is not a number between 1 and 65535`);
  }
  if (remote === undefined || local === undefined) return problems.join(', ');
  return { remote, local };
}

/**
 * Parses one port spec (`8080:3000`, `8080`, `0:3000`). Throws
 * RPF_ERR_CLIENT_INVALID_PORT_SPEC quoting the spec.
 */
export function parsePortSpec(text: string): PortMapping {
  const result = parseOne(text);
  if (typeof result === 'string') throw new RpfClientError('RPF_ERR_CLIENT_INVALID_PORT_SPEC', `invalid port spec "${text}": ${result}`);
  return result;
}

/**
 * Parses every spec of a command, in order. Reports every bad spec at once
 * (joined by "; ") as RPF_ERR_CLIENT_INVALID_PORT_SPEC, including a non-zero
 * remote port named twice. At least one spec is required.
 */
export function parsePortSpecs(texts: readonly string[]): PortMapping[] {
  if (texts.length === 0) {
    throw new RpfClientError('RPF_ERR_CLIENT_INVALID_PORT_SPEC', 'at least one port spec is required (REMOTE[:LOCAL])');
  }
  const problems: string[] = [];
  const mappings: PortMapping[] = [];
  const firstSpecOfRemote = new Map<number, string>();
  for (const text of texts) {
    const result = parseOne(text);
    if (typeof result === 'string') {
      problems.push(`invalid port spec "${text}": ${result}`);
      continue;
    }
    const earlier = firstSpecOfRemote.get(result.remote);
    if (result.remote !== 0 && earlier !== undefined) {
      problems.push(`invalid port spec "${text}": remote port ${result.remote} is already forwarded by "${earlier}"`);
      continue;
    }
    firstSpecOfRemote.set(result.remote, text);
    mappings.push(result);
  }
  if (problems.length > 0) throw new RpfClientError('RPF_ERR_CLIENT_INVALID_PORT_SPEC', problems.join('; '));
  return mappings;
}

/** Checks a mapping given as an object (library callers); throws like {@link parsePortSpec}. */
export function checkPortMapping(mapping: PortMapping): PortMapping {
  const { remote, local } = mapping;
  const ok = Number.isInteger(remote) && remote >= 0 && remote <= 65535 && Number.isInteger(local) && local >= 1 && local <= 65535;
  if (!ok) {
    throw new RpfClientError(
      'RPF_ERR_CLIENT_INVALID_PORT_SPEC',
      `invalid port mapping {remote: ${String(remote)}, local: ${String(local)}}: remote must be 0-65535 and local 1-65535`,
    );
  }
  return { remote, local };
}

/** Formats a mapping back as a spec, `REMOTE:LOCAL`. */
export function formatPortMapping(mapping: PortMapping): string {
  return `${mapping.remote}:${mapping.local}`;
}
