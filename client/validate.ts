// The one validator of what a caller asks for, the CLI's flags and the
// library's options alike: pure checks, no I/O, each throwing the code of its
// field (INVALID_ARGS, INVALID_PORT_SPEC, INVALID_TARGET) with a message that
// quotes the bad value. cli.ts checks the flags' own forms here; options.ts
// checks every option here before it loads the kubeconfig.

import { isIP } from 'node:net';
import { parseDuration } from './duration.ts';
import { RpfClientError } from './errors.ts';
import { checkPortMapping, formatPortMapping, parsePortSpecs } from './port-spec.ts';
import type { PortMapping } from './port-spec.ts';
import { parseTarget } from './target.ts';
import type { TargetRef } from './target.ts';

/** An RPF_ERR_CLIENT_INVALID_ARGS error. */
export function invalidArgs(message: string): RpfClientError {
  return new RpfClientError('RPF_ERR_CLIENT_INVALID_ARGS', message);
}

/** Checks an address for the pod: an IP literal (brackets allowed for IPv6) or `localhost`; returns it without brackets. */
export function checkAddress(text: string): string {
  const bare = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  if (bare.toLowerCase() === 'localhost' || isIP(bare) !== 0) return bare;
  throw invalidArgs(`invalid address "${text}": must be an IPv4 or IPv6 address or localhost`);
}

/** The `--address` flags, repeated or comma-separated, as a list; an empty entry is refused. */
export function addressFlags(values: readonly string[]): string[] {
  const addresses = values.flatMap((a) => a.split(',')).map((a) => a.trim());
  if (addresses.some((a) => a === '')) throw invalidArgs('--address must not contain an empty address');
  return addresses;
}

/** A flag that takes a name (`--namespace`, `--context`, `--kubeconfig`) must not be given empty. */
export function checkNotEmptyFlag(flag: string, value: string | undefined): void {
  if (value === '') throw invalidArgs(`--${flag} must not be empty`);
}

/** `--pod-running-timeout`: a Go duration above zero, in milliseconds. */
export function podRunningTimeoutFlag(text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined) throw invalidArgs(`invalid argument "${text}" for --pod-running-timeout: not a duration (like 5s, 2m, or 3h)`);
  if (ms <= 0) throw invalidArgs('--pod-running-timeout must be higher than zero');
  return ms;
}

/**
 * A kubectl-style boolean flag's value, as Go's strconv.ParseBool reads it
 * (`--reconnect=false`, `--reconnect=0`, `--reconnect=T`...).
 */
export function booleanFlag(flag: string, text: string): boolean {
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(text)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(text)) return false;
  throw invalidArgs(`invalid argument "${text}" for "--${flag}" flag: strconv.ParseBool: parsing "${text}": invalid syntax`);
}

/** What {@link validateInputs} reads: the inputs of a forward, as the caller gave them. */
export interface Inputs {
  readonly target: string;
  readonly ports: ReadonlyArray<string | PortMapping>;
  readonly address?: readonly string[] | undefined;
  readonly podRunningTimeoutMs?: number | undefined;
  readonly localHost?: string | undefined;
  readonly reconnect?: boolean | undefined;
  readonly onStateChange?: unknown;
}

/** The inputs of a forward, parsed and checked. */
export interface ValidInputs {
  readonly target: TargetRef;
  readonly mappings: readonly PortMapping[];
  readonly addresses: readonly string[];
  readonly podRunningTimeoutMs: number;
  readonly localHost: string;
}

/** Default of --pod-running-timeout, as kubectl's. */
export const DEFAULT_POD_RUNNING_TIMEOUT_MS = 60_000;

/**
 * Parses and checks the inputs of a forward, in this order: the port specs
 * (every bad one at once), the addresses, the target, the timeout, the
 * reconnect switch and state callback, the local host. Throws the first
 * field's error.
 */
export function validateInputs(inputs: Inputs): ValidInputs {
  const specs = (inputs.ports ?? []).map((p) => (typeof p === 'string' ? p : formatPortMapping(checkPortMapping(p))));
  const mappings = parsePortSpecs(specs);
  const addresses = (inputs.address ?? []).map(checkAddress);
  if (typeof inputs.target !== 'string' || inputs.target === '') throw invalidArgs('a target is required: POD or TYPE/NAME');
  const target = parseTarget(inputs.target);
  const podRunningTimeoutMs = inputs.podRunningTimeoutMs ?? DEFAULT_POD_RUNNING_TIMEOUT_MS;
  if (!(podRunningTimeoutMs > 0) || !Number.isFinite(podRunningTimeoutMs)) {
    throw invalidArgs(`the pod running timeout must be greater than zero, got ${podRunningTimeoutMs} ms`);
  }
  if (inputs.reconnect !== undefined && typeof inputs.reconnect !== 'boolean') throw invalidArgs(`reconnect must be true or false, got ${JSON.stringify(inputs.reconnect)}`);
  if (inputs.onStateChange !== undefined && typeof inputs.onStateChange !== 'function') throw invalidArgs('onStateChange must be a function');
  const localHost = inputs.localHost ?? 'localhost';
  if (localHost === '') throw invalidArgs('the local host must not be empty');
  return { target, mappings, addresses, podRunningTimeoutMs, localHost };
}
