// The data-plane microbenchmark (issue 9): kube-rpf's two ends with no
// cluster, so that a change to the data path is judged in a minute.
//
//   caller (pod process) -> pod listener + rpf-agent's TunnelSession   lib/dataplane-agent.ts
//     <- WebSocket over TLS -> bare TLS relay standing for rpf-server  lib/dataplane-relay.ts
//     [<- TLS -> a second relay standing for kube-apiserver, --hops 2]
//     <- TLS -> kubectl-rpf's openTunnel + Forwarder                   lib/dataplane-client.ts
//     -> local service                                                 programs/load.mjs serve
//
// Every hop is its own Node.js process, so CPU is attributable: user+sys from
// /proc per GiB moved (with the V8 worker threads' share, which is the
// concurrent GC), the main thread's GC counts and pauses (PerformanceObserver
// in each child), MB/s, and the 1 KiB round trip. Median of the rounds, the
// two directions alternating. Not part of `npm run bench` (which measures the
// cluster); run by hand:
//
//   node test/bench/dataplane.bench.ts [--mib 1024] [--rounds 3] [--hops 1|2] [--rr 2000]
//        [--root [LABEL=]DIR ...] [--relay-hwm BYTES] [--count-chunks] [--relay-flags LABEL=FLAGS ...]
//        [--flows pod-to-machine,machine-to-pod] [--profile DIR]
//
// --root (repeatable) loads protocol/, client/ and node-agent/ from another
// tree, such as an experiment's worktree (with node_modules linked in); with
// several roots every round measures each, in rotating order, so that the
// machine's noise falls on all alike. --profile writes one .cpuprofile per
// process and transfer (the profiler runs only during the measured transfer)
// and prints the top self-time functions.
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { summarizeProfile } from './lib/cpu-profile.ts';
import { GC_SUFFIX, cpuDelta, snapshotCpu } from './lib/cpu.ts';
import { startProcess, type Started } from './lib/processes.ts';
import { median } from './lib/stats.ts';

const here = path.dirname(new URL(import.meta.url).pathname);
const repoRoot = path.resolve(here, '../..');
const GiB = 1024 ** 3;
const FLOWS = ['pod-to-machine', 'machine-to-pod'] as const;
type Flow = (typeof FLOWS)[number];
/** The caller runs in the pod: it sends for pod-to-machine and receives for machine-to-pod. */
const DIRECTION: Record<Flow, 'up' | 'down'> = { 'pod-to-machine': 'up', 'machine-to-pod': 'down' };

const { values } = parseArgs({
  options: {
    mib: { type: 'string', default: '1024' },
    rounds: { type: 'string', default: '3' },
    hops: { type: 'string', default: '1' },
    rr: { type: 'string', default: '2000' },
    root: { type: 'string', multiple: true },
    'relay-hwm': { type: 'string', default: '0' },
    // LABEL=FLAGS: extra flags for the rpf-server relay of the root labelled LABEL (e.g. nocopy=--no-copy).
    'relay-flags': { type: 'string', multiple: true },
    'count-chunks': { type: 'boolean', default: false },
    flows: { type: 'string', default: FLOWS.join(',') },
    profile: { type: 'string' },
    json: { type: 'string' },
  },
});
const bytes = Number(values.mib) * 1024 ** 2;
const rounds = Number(values.rounds);
const hops = Number(values.hops);
const rrCount = Number(values.rr);
const flows = values.flows.split(',').map((f) => f.trim()) as Flow[];
for (const f of flows) if (!FLOWS.includes(f)) throw new Error(`unknown flow ${f}; known: ${FLOWS.join(', ')}`);
if (!(hops === 1 || hops === 2)) throw new Error('--hops must be 1 or 2');
const roots = (values.root ?? [repoRoot]).map((spec, i) => {
  const eq = spec.indexOf('=');
  return eq > 0 ? { label: spec.slice(0, eq), dir: path.resolve(spec.slice(eq + 1)) } : { label: i === 0 && spec === repoRoot ? 'main' : path.basename(spec), dir: path.resolve(spec) };
});

const log = (line: string) => process.stderr.write(`[dataplane] ${line}\n`);
const lib = (name: string) => path.join(here, 'lib', name);
const loadProgram = path.join(here, 'programs/load.mjs');

// ------------------------------------------------------------ set-up

const tmp = mkdtempSync(path.join(tmpdir(), 'rpf-dataplane-'));
const certFile = path.join(tmp, 'tls.crt');
const keyFile = path.join(tmp, 'tls.key');
execFileSync('openssl', [
  'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', certFile,
  '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-days', '2',
], { stdio: ['ignore', 'ignore', 'pipe'] });

/** A child that answers `stats N`. */
interface Child {
  readonly name: string;
  readonly process: Started;
}

let sequence = 0;
async function ask(child: Child, command: string, extra = ''): Promise<Record<string, any>> {
  const n = ++sequence;
  child.process.write(`${command} ${n}${extra ? ` ${extra}` : ''}\n`);
  const key = command === 'stats' ? 'stats' : 'profile';
  const m = await child.process.waitForLine(new RegExp(`^(\\{"${key}":${n},.*)$`), 20_000);
  return JSON.parse(m[1]!) as Record<string, any>;
}

async function jsonLine(p: Started, event: string): Promise<Record<string, any>> {
  const m = await p.waitForLine(new RegExp(`^(\\{"event":"${event}".*)$`), 30_000);
  return JSON.parse(m[1]!) as Record<string, any>;
}

const all: Started[] = [];
/** Extra Node.js flags for the kube-rpf processes (e.g. `--trace-gc`), from $DATAPLANE_NODE_FLAGS. */
const nodeFlags = (process.env.DATAPLANE_NODE_FLAGS ?? '').split(' ').filter((f) => f !== '');
function start(args: string[], logName: string): Started {
  const p = startProcess(process.execPath, [...nodeFlags, ...args], { stdin: true });
  // With extra flags (--trace-gc prints to stdout), keep each child's whole output.
  if (nodeFlags.length > 0) {
    const file = path.join(repoRoot, '.bench', `dataplane-${logName}.log`);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, '');
    p.child.stdout!.on('data', (d: Buffer) => appendFileSync(file, d));
  }
  all.push(p);
  return p;
}

/** One kube-rpf chain loaded from one root. */
interface Chain {
  readonly label: string;
  readonly children: Child[];
  readonly podPort: number;
}

const service = startProcess(process.execPath, [loadProgram, 'serve', '0', '127.0.0.1']);
all.push(service);
const servicePort = Number((await jsonLine(service, 'listening')).port);

/** The --relay-flags given for a root's label, split on spaces. */
function relayFlags(label: string): string[] {
  const spec = (values['relay-flags'] ?? []).find((f) => f.startsWith(`${label}=`));
  return spec === undefined ? [] : spec.slice(label.length + 1).split(' ').filter((f) => f !== '');
}

async function startChain(label: string, dir: string): Promise<Chain> {
  const agent = start([lib('dataplane-agent.ts'), '--root', dir, '--cert', certFile, '--key', keyFile], `${label}-agent`);
  let upstream = Number((await jsonLine(agent, 'listening')).port);
  const relayArgs = ['--cert', certFile, '--key', keyFile, '--hwm', values['relay-hwm'], ...(values['count-chunks'] ? ['--count-chunks'] : [])];
  const children: Child[] = [{ name: 'rpf-agent', process: agent }];
  const relayNames = hops === 2 ? ['rpf-server (relay)', 'kube-apiserver (relay)'] : ['rpf-server (relay)'];
  for (const name of relayNames) {
    const extra = name.startsWith('rpf-server') ? relayFlags(label) : [];
    const relay = start([lib('dataplane-relay.ts'), ...relayArgs, ...extra, '--upstream-port', String(upstream)], `${label}-${name.split(' ')[0]}`);
    upstream = Number((await jsonLine(relay, 'listening')).port);
    children.push({ name, process: relay });
  }
  const kubeconfig = path.join(tmp, `kubeconfig-${label}.json`);
  writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'bench', cluster: { server: `https://127.0.0.1:${upstream}`, 'certificate-authority': certFile } }],
      users: [{ name: 'bench', user: { token: 'bench' } }],
      contexts: [{ name: 'bench', context: { cluster: 'bench', user: 'bench', namespace: 'bench' } }],
      'current-context': 'bench',
    }),
  );
  const client = start([lib('dataplane-client.ts'), '--root', dir, '--kubeconfig', kubeconfig, '--service-port', String(servicePort)], `${label}-client`);
  const ready = await jsonLine(client, 'ready');
  children.push({ name: 'kubectl-rpf', process: client });
  return { label, children, podPort: Number(ready.podPort) };
}

async function caller(chain: Chain, test: string, options: Record<string, unknown>): Promise<Record<string, any>> {
  const p = startProcess(process.execPath, [loadProgram, 'client', test, '127.0.0.1', String(chain.podPort), JSON.stringify({ deadlineMs: 240_000, ...options })]);
  await p.exited;
  const line = p.lines.at(-1) ?? '';
  const result = JSON.parse(line || `{"error":${JSON.stringify(p.stderr())}}`) as Record<string, any>;
  if (result.error) throw new Error(`${chain.label} ${test}: ${result.error}`);
  return result;
}

// ------------------------------------------------------------ measuring

/** One bulk transfer's figures. */
interface BulkRun {
  mbps: number;
  /** CPU ms per GiB by process, the V8 worker threads' share as `NAME (V8 worker threads)`. */
  cpuMsPerGiB: Record<string, number>;
  /** Main-thread GC per GiB by process: minor and major collections, pause ms. */
  gcPerGiB: Record<string, { minor: number; major: number; pauseMs: number; flags: Record<string, number> }>;
}

async function bulk(chain: Chain, flow: Flow, profileTag?: string): Promise<BulkRun> {
  const groups: Record<string, number[]> = { service: [service.pid] };
  for (const c of chain.children) groups[c.name] = [c.process.pid];
  if (profileTag !== undefined) for (const c of chain.children) await ask(c, 'profile-start');
  const gcBefore = await Promise.all(chain.children.map((c) => ask(c, 'stats')));
  const before = await snapshotCpu(groups);
  const result = await caller(chain, 'bulk', { bytes, direction: DIRECTION[flow] });
  const after = await snapshotCpu(groups);
  const gcAfter = await Promise.all(chain.children.map((c) => ask(c, 'stats')));
  if (profileTag !== undefined) {
    for (const c of chain.children) await ask(c, 'profile-stop', path.join(values.profile!, `${profileTag}-${c.name.split(' ')[0]}.cpuprofile`));
  }
  const scale = GiB / bytes;
  const cpuMsPerGiB = cpuDelta(before, after, scale);
  cpuMsPerGiB['caller (pod)'] = Math.round(Number(result.cpuMs) * scale);
  const gcPerGiB: BulkRun['gcPerGiB'] = {};
  chain.children.forEach((c, i) => {
    const a = gcAfter[i]!.gc;
    const b = gcBefore[i]!.gc;
    const flags: Record<string, number> = {};
    for (const [flag, count] of Object.entries(a.flags as Record<string, number>)) {
      const delta = count - ((b.flags as Record<string, number>)[flag] ?? 0);
      if (delta > 0) flags[flag] = Math.round(delta * scale);
    }
    gcPerGiB[c.name] = { minor: (a.minor - b.minor) * scale, major: (a.major - b.major) * scale, pauseMs: Math.round((a.pauseMs - b.pauseMs) * scale), flags };
  });
  return { mbps: Number(result.mbps), cpuMsPerGiB, gcPerGiB };
}

// ------------------------------------------------------------ the run

const chains: Chain[] = [];
const results: Record<string, { bulk: Partial<Record<Flow, BulkRun[]>>; rr: Array<{ p50: number; p99: number }> }> = {};
let exitCode = 0;
try {
  for (const r of roots) {
    chains.push(await startChain(r.label, r.dir));
    results[r.label] = { bulk: {}, rr: [] };
  }
  log(`${chains.length} chain(s) up (${hops} relay hop(s)); warm-up`);
  for (const chain of chains) {
    for (const flow of flows) await caller(chain, 'bulk', { bytes: 64 * 1024 ** 2, direction: DIRECTION[flow] });
    if (rrCount > 0) await caller(chain, 'rr', { count: 300, warmup: 0 });
  }
  if (values.profile) mkdirSync(values.profile, { recursive: true });
  for (let round = 0; round < rounds; round++) {
    // Rotate the roots and alternate the directions, so neither always runs on a warmer machine.
    const order = chains.map((_, i) => chains[(i + round) % chains.length]!);
    for (const chain of order) {
      for (const flow of round % 2 === 0 ? flows : [...flows].reverse()) {
        const tag = values.profile ? `${chain.label}-${flow}-r${round}` : undefined;
        const run = await bulk(chain, flow, tag);
        (results[chain.label]!.bulk[flow] ??= []).push(run);
        log(`round ${round + 1} ${chain.label} ${flow}: ${run.mbps.toFixed(0)} MB/s, CPU ms/GiB ${JSON.stringify(run.cpuMsPerGiB)}, GC/GiB ${JSON.stringify(run.gcPerGiB)}`);
      }
      if (rrCount > 0) {
        const rr = await caller(chain, 'rr', { count: rrCount, warmup: 200 });
        results[chain.label]!.rr.push({ p50: Number(rr.p50), p99: Number(rr.p99) });
        log(`round ${round + 1} ${chain.label} 1 KiB rr: p50 ${Number(rr.p50).toFixed(0)} µs, p99 ${Number(rr.p99).toFixed(0)} µs`);
      }
    }
  }
} catch (error) {
  log(`failed: ${(error as Error).stack}`);
  exitCode = 1;
} finally {
  await Promise.all(all.map((p) => p.stop('SIGTERM', 5000)));
}

// ------------------------------------------------------------ report

const fmt = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : '-');
const med = (xs: number[]) => (xs.length === 0 ? NaN : median(xs));
const range = (xs: number[], digits: number) => (xs.length > 1 ? ` (${fmt(Math.min(...xs), digits)}-${fmt(Math.max(...xs), digits)})` : '');
const out: string[] = [];
out.push(`data plane, ${bytes / 1024 ** 2} MiB per transfer, ${rounds} round(s), ${hops} relay hop(s), Node ${process.version}; median (min-max)`);
for (const chain of chains) {
  const r = results[chain.label]!;
  out.push('', `## ${chain.label} (${roots.find((x) => x.label === chain.label)!.dir})`);
  for (const flow of flows) {
    const runs = r.bulk[flow] ?? [];
    if (runs.length === 0) continue;
    const mbps = runs.map((x) => x.mbps);
    out.push('', `${flow}: ${fmt(med(mbps), 0)} MB/s${range(mbps, 0)}`);
    out.push(`  ${'process'.padEnd(24)} ${'CPU-s/GiB'.padStart(18)} ${'V8 workers'.padStart(10)} ${'GC minor'.padStart(9)} ${'major'.padStart(6)} ${'pause ms'.padStart(9)}   (per GiB)`);
    const names = Object.keys(runs[0]!.cpuMsPerGiB).filter((n) => !n.endsWith(GC_SUFFIX));
    for (const name of names) {
      const cpu = runs.map((x) => (x.cpuMsPerGiB[name] ?? NaN) / 1000);
      const workers = runs.map((x) => (x.cpuMsPerGiB[`${name}${GC_SUFFIX}`] ?? 0) / 1000);
      const gc = runs.map((x) => x.gcPerGiB[name]).filter((g) => g !== undefined);
      const gcCols = gc.length
        ? `${fmt(med(gc.map((g) => g.minor)), 0).padStart(9)} ${fmt(med(gc.map((g) => g.major)), 0).padStart(6)} ${fmt(med(gc.map((g) => g.pauseMs)), 0).padStart(9)}`
        : '';
      out.push(`  ${name.padEnd(24)} ${`${fmt(med(cpu))}${range(cpu, 2)}`.padStart(18)} ${fmt(med(workers)).padStart(10)} ${gcCols}`);
    }
  }
  if (r.rr.length > 0) {
    const p50 = r.rr.map((x) => x.p50);
    const p99 = r.rr.map((x) => x.p99);
    out.push('', `1 KiB round trip: p50 ${fmt(med(p50), 0)} µs${range(p50, 0)}, p99 ${fmt(med(p99), 0)} µs${range(p99, 0)}`);
  }
}
process.stdout.write(`${out.join('\n')}\n`);
const jsonFile = values.json ?? path.join(repoRoot, '.bench', `dataplane-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
mkdirSync(path.dirname(jsonFile), { recursive: true });
writeFileSync(jsonFile, `${JSON.stringify({ bytes, rounds, hops, roots, flows, results }, null, 2)}\n`);
log(`wrote ${path.relative(process.cwd(), jsonFile)}`);

if (values.profile) {
  const { readdirSync } = await import('node:fs');
  for (const file of readdirSync(values.profile).filter((f) => f.endsWith('.cpuprofile')).sort()) {
    const summary = await summarizeProfile(path.join(values.profile, file), 12);
    process.stdout.write(`\n${file}: ${summary.totalMs} ms profiled; self time by function:\n`);
    for (const row of summary.byFunction) process.stdout.write(`  ${(row.share * 100).toFixed(1).padStart(5)}%  ${String(row.selfMs).padStart(6)} ms  ${row.name}\n`);
  }
}
rmSync(tmp, { recursive: true, force: true });
process.exitCode = exitCode;
