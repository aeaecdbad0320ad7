// `kubectl get reverseportforwards -A -o wide` as a user runs it, read back as
// rows, with the Warning lines kubectl prints on stderr (one per missing node).
import { kubectl } from './cluster.ts';

/** One row of the wide table. */
export interface SessionRow {
  namespace: string;
  name: string;
  pod: string;
  user: string;
  ports: string;
  node: string;
}

/** What one listing showed. */
export interface Listing {
  rows: SessionRow[];
  /** kubectl's `Warning: ...` lines. */
  warnings: string[];
  /** How long kubectl took, ms. */
  ms: number;
}

/** Runs `kubectl get reverseportforwards -A -o wide` and parses its table by the header's columns. */
export async function listSessions(): Promise<Listing> {
  const started = Date.now();
  const result = await kubectl(['get', 'reverseportforwards', '-A', '-o', 'wide']);
  const ms = Date.now() - started;
  if (result.code !== 0) throw new Error(`kubectl get reverseportforwards -A failed (${result.code}): ${result.stderr.trim()}`);
  const warnings = result.stderr.split('\n').filter((l) => l.startsWith('Warning:'));
  const lines = result.stdout.split('\n').filter((l) => l.trim() !== '');
  // "No resources found" is printed on stderr; an empty stdout is an empty list.
  if (lines.length === 0) return { rows: [], warnings, ms };
  const header = lines[0]!.split(/\s{2,}/).map((h) => h.trim().toUpperCase());
  const column = (cells: string[], name: string): string => cells[header.indexOf(name)] ?? '';
  const rows = lines.slice(1).map((line) => {
    const cells = line.trim().split(/\s{2,}/);
    return {
      namespace: column(cells, 'NAMESPACE'),
      name: column(cells, 'NAME'),
      pod: column(cells, 'POD'),
      user: column(cells, 'USER'),
      ports: column(cells, 'PORTS'),
      node: column(cells, 'NODE'),
    };
  });
  return { rows, warnings, ms };
}

/** The rows of sessions to pods of `namespace`, by pod name (one session per pod expected). */
export function byPod(listing: Listing, namespace: string): Map<string, SessionRow> {
  return new Map(listing.rows.filter((r) => r.namespace === namespace).map((r) => [r.pod, r]));
}
