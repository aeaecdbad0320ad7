/**
 * The `--allowed-ports` grammar: a comma-separated list of ports and ranges,
 *
 *   ranges := item ("," item)*
 *   item   := PORT | PORT "-" PORT        PORT is 1-65535, the first <= the second
 *
 * e.g. "1-65535", "8080", "3000-3999,8080". Parsing is pure; errors quote the bad item.
 */

/** An inclusive range of TCP ports. */
export interface PortRange {
  readonly from: number;
  readonly to: number;
}

/** The result of {@link parsePortRanges}: ranges, or one message per bad item with its index. */
export type PortRangesResult =
  | { readonly ok: true; readonly ranges: readonly PortRange[] }
  | { readonly ok: false; readonly errors: readonly { readonly index: number; readonly message: string }[] };

const PORT = /^[0-9]{1,5}$/;

function port(text: string): number | undefined {
  if (!PORT.test(text)) return undefined;
  const n = Number(text);
  return n >= 1 && n <= 65535 ? n : undefined;
}

/** Parses a port-range list; every bad item is reported. */
export function parsePortRanges(text: string): PortRangesResult {
  const errors: { index: number; message: string }[] = [];
  const ranges: PortRange[] = [];
  const items = text.split(',').map((s) => s.trim());
  items.forEach((item, index) => {
    const dash = item.indexOf('-');
    const fromText = dash < 0 ? item : item.slice(0, dash).trim();
    const toText = dash < 0 ? item : item.slice(dash + 1).trim();
    const from = port(fromText);
    const to = port(toText);
    if (from === undefined || to === undefined) {
      errors.push({ index, message: `"${item}" is not a port (1-65535) or a range of ports like 8000-8999` });
    } else if (from > to) {
      errors.push({ index, message: `"${item}": the range starts after it ends` });
    } else {
      ranges.push({ from, to });
    }
  });
  return errors.length > 0 ? { ok: false, errors } : { ok: true, ranges };
}

/** True when `port` lies in one of the ranges. */
export function inPortRanges(ranges: readonly PortRange[], port: number): boolean {
  return ranges.some((r) => port >= r.from && port <= r.to);
}

/** True when the ranges leave no port of 1-65535 out (the default policy). */
export function coversAllPorts(ranges: readonly PortRange[]): boolean {
  let next = 1;
  for (const r of [...ranges].sort((a, b) => a.from - b.from)) {
    if (r.from > next) return false;
    next = Math.max(next, r.to + 1);
  }
  return next > 65535;
}

/** Formats ranges back to the flag's grammar, for messages. */
export function formatPortRanges(ranges: readonly PortRange[]): string {
  return ranges.map((r) => (r.from === r.to ? String(r.from) : `${r.from}-${r.to}`)).join(',');
}
