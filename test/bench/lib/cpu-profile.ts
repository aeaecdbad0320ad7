// Reading a V8 .cpuprofile (what `node --cpu-prof` writes): self time by
// function and by source file, to say where a process spends its CPU.
import { readFile } from 'node:fs/promises';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** One row of a profile summary. */
export interface ProfileRow {
  name: string;
  selfMs: number;
  share: number;
}

function shortUrl(url: string): string {
  if (url === '') return '(native)';
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\/(.*)$/.exec(url);
  if (m) return `${m[1]}/${m[2]}`;
  return url.replace(/^file:\/\/.*?\/(dist|protocol|client|server|node-agent)\//, '$1/').replace(/^node:/, 'node:');
}

/** Self time per function and per file, largest first. */
export async function summarizeProfile(file: string, top = 25): Promise<{ totalMs: number; byFunction: ProfileRow[]; byFile: ProfileRow[] }> {
  const profile = JSON.parse(await readFile(file, 'utf8')) as Profile;
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const totalUs = profile.endTime - profile.startTime;
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  for (const node of profile.nodes) {
    const us = selfUs.get(node.id) ?? 0;
    if (us === 0) continue;
    const file = shortUrl(node.callFrame.url);
    const fn = `${node.callFrame.functionName || '(anonymous)'} ${file}${node.callFrame.url ? `:${node.callFrame.lineNumber + 1}` : ''}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
    byFile.set(file, (byFile.get(file) ?? 0) + us);
  }
  const rows = (map: Map<string, number>) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, selfMs: Math.round(us / 1000), share: us / totalUs }));
  return { totalMs: Math.round(totalUs / 1000), byFunction: rows(byFunction), byFile: rows(byFile) };
}
