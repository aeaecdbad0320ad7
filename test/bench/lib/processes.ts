// Child processes of the benchmarks (started, watched line by line, stopped
// by their own handle, never by name) and what /proc says about any process:
// resident memory, CPU time, the processes of a pod.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';

/** A process the bench started, with its output split into lines. */
export interface Started {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Every stdout line so far (kept short: only the first 200 and lines matching a waiter). */
  readonly lines: string[];
  stderr(): string;
  /** Resolves with the first stdout or stderr line matching `pattern`; rejects on exit or timeout. */
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  /** Writes to stdin. */
  write(text: string): void;
  /** Resolves once the process exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends `signal` (default SIGTERM), then SIGKILL after `graceMs`, and waits for the exit. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

interface Waiter {
  pattern: RegExp;
  resolve: (m: RegExpMatchArray) => void;
}

/** Starts `file args` with piped stdio and line-splits its stdout and stderr. */
export function startProcess(file: string, args: string[], options: { env?: NodeJS.ProcessEnv; stdin?: boolean } = {}): Started {
  const child = spawn(file, args, { env: options.env ?? process.env, stdio: [options.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let err = '';
  const waiters = new Set<Waiter>();
  const offer = (line: string, keep: boolean) => {
    let matched = false;
    for (const w of waiters) {
      const m = w.pattern.exec(line);
      if (m) {
        waiters.delete(w);
        w.resolve(m);
        matched = true;
      }
    }
    if (keep && (matched || lines.length < 200)) lines.push(line);
  };
  const splitter = (keep: boolean) => {
    let partial = '';
    return (data: Buffer) => {
      partial += data.toString();
      let nl;
      while ((nl = partial.indexOf('\n')) >= 0) {
        offer(partial.slice(0, nl), keep);
        partial = partial.slice(nl + 1);
      }
    };
  };
  child.stdout!.on('data', splitter(true));
  const onErr = splitter(false);
  child.stderr!.on('data', (d: Buffer) => {
    if (err.length < 64 * 1024) err += d.toString();
    onErr(d);
  });
  child.stdin?.on('error', () => {});
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  if (child.pid === undefined) throw new Error(`could not start ${file}`);
  return {
    child,
    pid: child.pid,
    lines,
    stderr: () => err,
    waitForLine(pattern, timeoutMs) {
      for (const line of lines) {
        const m = pattern.exec(line);
        if (m) return Promise.resolve(m);
      }
      return new Promise((resolve, reject) => {
        const waiter: Waiter = {
          pattern,
          resolve: (m) => {
            clearTimeout(timer);
            resolve(m);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`${file}: no line matching ${pattern} within ${timeoutMs} ms; stderr: ${err.slice(-2000)}`));
        }, timeoutMs);
        waiters.add(waiter);
        void exited.then(({ code, signal }) => {
          if (!waiters.has(waiter)) return;
          waiters.delete(waiter);
          clearTimeout(timer);
          reject(new Error(`${file} exited (${code ?? signal}) before a line matching ${pattern}; stderr: ${err.slice(-2000)}`));
        });
      });
    },
    write(text) {
      child.stdin?.write(text);
    },
    exited,
    async stop(signal = 'SIGTERM', graceMs = 5000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Resident memory of a process in KiB (VmRSS), or undefined if it is gone. */
export async function rssKiB(pid: number): Promise<number | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const m = /^VmRSS:\s+(\d+) kB/m.exec(status);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

// USER_HZ: 100 on every Linux that matters (getconf CLK_TCK).
const TICK_MS = 10;

/** User plus system CPU time of a process in ms, or undefined if it is gone. */
export async function cpuMs(pid: number): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which may contain spaces: ") S ppid ..."; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
  } catch {
    return undefined;
  }
}

/**
 * CPU time in ms of the threads of `pid` whose name starts with `prefix`;
 * `V8Worker` threads do V8's concurrent and parallel garbage collection.
 */
export async function threadCpuMs(pid: number, prefix: string): Promise<number> {
  let total = 0;
  let tids: string[];
  try {
    tids = await readdir(`/proc/${pid}/task`);
  } catch {
    return 0;
  }
  for (const tid of tids) {
    try {
      const stat = await readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      if (!name.startsWith(prefix)) continue;
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      total += (Number(fields[11]) + Number(fields[12])) * TICK_MS;
    } catch {
      // thread exited
    }
  }
  return total;
}

/** Every process of this machine: pid, command line, cgroup text and parent pid. */
export async function listProcesses(): Promise<Array<{ pid: number; cmdline: string; cgroup: string; ppid: number }>> {
  const out = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const [cmdline, cgroup, stat] = await Promise.all([
        readFile(`/proc/${entry}/cmdline`, 'utf8'),
        readFile(`/proc/${entry}/cgroup`, 'utf8'),
        readFile(`/proc/${entry}/stat`, 'utf8'),
      ]);
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      out.push({ pid: Number(entry), cmdline: cmdline.replace(/\0/g, ' ').trim(), cgroup, ppid });
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** The host pids of a pod's processes (found by its UID in their cgroup path, as the agent finds pods), optionally filtered by command line. */
export async function podPids(uid: string, cmdlineIncludes?: string): Promise<number[]> {
  const all = await listProcesses();
  return all
    .filter((p) => (p.cgroup.includes(`pod${uid}`) || p.cgroup.includes(`pod${uid.replace(/-/g, '_')}`)) && p.cmdline !== '' && !p.cmdline.startsWith('/pause'))
    .filter((p) => cmdlineIncludes === undefined || p.cmdline.includes(cmdlineIncludes))
    .map((p) => p.pid);
}

/** The descendants of `pid` (children, grandchildren...). */
export async function descendants(pid: number): Promise<number[]> {
  const all = await listProcesses();
  const out: number[] = [];
  let frontier = [pid];
  while (frontier.length > 0) {
    const next = all.filter((p) => frontier.includes(p.ppid)).map((p) => p.pid);
    out.push(...next);
    frontier = next;
  }
  return out;
}

/** Sums `measure` over `pids`, ignoring processes that are gone. */
export async function sumOver(pids: readonly number[], measure: (pid: number) => Promise<number | undefined>): Promise<number> {
  const values = await Promise.all(pids.map(measure));
  return values.reduce<number>((a, b) => a + (b ?? 0), 0);
}
