/**
 * Durations in flags, as Kubernetes components write them (Go's
 * time.ParseDuration, without the sub-millisecond units):
 *
 *   duration := "0" | (NUMBER UNIT)+      NUMBER is digits with an optional fraction
 *   UNIT     := "ms" | "s" | "m" | "h"
 *
 * e.g. "10s", "1m30s", "1.5h", "250ms". Parsing is pure; the result is whole
 * milliseconds (rounded), errors quote the text.
 */

const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const PART = /(\d+(?:\.\d+)?|\.\d+)(ms|s|m|h)/y;

/** The duration in milliseconds, or an error message quoting the text. */
export function parseDuration(text: string): { ok: true; ms: number } | { ok: false; message: string } {
  if (text === '0') return { ok: true, ms: 0 };
  let total = 0;
  let at = 0;
  PART.lastIndex = 0;
  while (at < text.length) {
    PART.lastIndex = at;
    const m = PART.exec(text);
    if (m === null || m[1] === undefined || m[2] === undefined) break;
    total += Number(m[1]) * (UNITS[m[2]] ?? 0);
    at = PART.lastIndex;
  }
  if (text === '' || at < text.length) return { ok: false, message: `"${text}" is not a duration like 10s, 1m30s or 250ms` };
  return { ok: true, ms: Math.round(total) };
}

/** Formats milliseconds the way the flags take them, for messages. */
export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/**
 * Formats milliseconds as Go's time.Duration.String() does ("8h0m0s",
 * "1m30s", "1.5s", "250ms"), the way Kubernetes components quote durations
 * in their messages.
 */
export function formatGoDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 1000) return `${ms}ms`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = (ms % 60_000) / 1000;
  const seconds = `${Number.isInteger(s) ? s : s.toFixed(3).replace(/0+$/, '')}s`;
  if (h > 0) return `${h}h${m}m${seconds}`;
  if (m > 0) return `${m}m${seconds}`;
  return seconds;
}
