// What every process of the data-plane microbenchmark (dataplane.bench.ts)
// shares: the code root it loads kube-rpf from, its garbage-collection
// counters, and the stdin/stdout conversation with the runner. A child answers
// `stats N` with one line `{"stats":N,...}` and exits cleanly on SIGTERM, so
// that `--cpu-prof` gets to write its profile.
import { writeFileSync } from 'node:fs';
import { Session as Inspector } from 'node:inspector/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { PerformanceObserver, constants, type PerformanceEntry } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import v8 from 'node:v8';

/** Garbage collections since the process started: count and main-thread pause per kind. */
export interface GcCounters {
  minor: number;
  major: number;
  incremental: number;
  weakcb: number;
  pauseMs: number;
  /** Collections by their flags (perf_hooks constants NODE_PERFORMANCE_GC_FLAGS_*), e.g. external memory pressure. */
  flags: Record<number, number>;
}

const KINDS: Record<number, keyof Omit<GcCounters, 'pauseMs'>> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

/** Starts counting GCs (PerformanceObserver 'gc'); returns the live counters. */
export function countGc(): GcCounters {
  const gc: GcCounters = { minor: 0, major: 0, incremental: 0, weakcb: 0, pauseMs: 0, flags: {} };
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const detail = (entry as PerformanceEntry & { detail?: { kind?: number; flags?: number } }).detail;
      const kind = KINDS[detail?.kind ?? 0];
      if (kind !== undefined) gc[kind]++;
      if (detail?.flags !== undefined) gc.flags[detail.flags] = (gc.flags[detail.flags] ?? 0) + 1;
      gc.pauseMs += entry.duration;
    }
  }).observe({ entryTypes: ['gc'] });
  return gc;
}

/** Loads a module of the kube-rpf tree at `root` (the repository or an experiment's copy). */
export async function loadFrom<T>(root: string, file: string): Promise<T> {
  return (await import(pathToFileURL(path.join(root, file)).href)) as T;
}

/** `require` resolving from `root`'s node_modules (ws is CommonJS). */
export function requireFrom(root: string): NodeJS.Require {
  return createRequire(path.join(root, 'package.json'));
}

/** The value of `--name VALUE` in argv, or `fallback`. */
export function argument(name: string, fallback?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const value = i >= 0 ? process.argv[i + 1] : undefined;
  if (value === undefined) {
    if (fallback === undefined) throw new Error(`missing --${name}`);
    return fallback;
  }
  return value;
}

/** Prints one JSON line for the runner. */
export function report(line: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

/**
 * Answers the runner's lines: `stats N` with the GC counters and CPU time;
 * `profile-start N` and `profile-stop N FILE` run the V8 sampling profiler
 * (what `--cpu-prof` runs) around exactly the measured transfer and write a
 * .cpuprofile. Exits on SIGTERM/SIGINT or at stdin's end.
 */
export function serveStats(gc: GcCounters, extra: () => Record<string, unknown> = () => ({})): void {
  const lines = createInterface({ input: process.stdin });
  let inspector: Inspector | undefined;
  lines.on('line', (line) => {
    const [command, n, file] = line.trim().split(' ');
    if (command === 'stats') {
      const cpu = process.cpuUsage();
      const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((sp) => [sp.space_name, Math.round(sp.space_size / 1024)]));
      const memory = process.memoryUsage();
      report({
        stats: Number(n),
        gc,
        cpuMs: (cpu.user + cpu.system) / 1000,
        rssKiB: Math.round(memory.rss / 1024),
        // Young generation size and external (ArrayBuffer) memory: what decides scavenges against mark-compacts.
        newSpaceKiB: spaces.new_space,
        externalKiB: Math.round(memory.external / 1024),
        arrayBuffersKiB: Math.round(memory.arrayBuffers / 1024),
        ...extra(),
      });
    } else if (command === 'profile-start') {
      void (async () => {
        inspector ??= new Inspector();
        inspector.connect();
        await inspector.post('Profiler.enable');
        await inspector.post('Profiler.setSamplingInterval', { interval: 500 });
        await inspector.post('Profiler.start');
        report({ profile: Number(n), done: command });
      })();
    } else if (command === 'profile-stop' && file !== undefined && inspector !== undefined) {
      const session = inspector;
      void (async () => {
        const { profile } = await session.post('Profiler.stop');
        writeFileSync(file, JSON.stringify(profile));
        session.disconnect();
        report({ profile: Number(n), done: command });
      })();
    }
  });
  lines.on('close', () => process.exit(0));
  const exit = () => process.exit(0);
  process.on('SIGTERM', exit);
  process.on('SIGINT', exit);
}
