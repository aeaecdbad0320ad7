// What each node of the local cluster costs this machine at idle (issue 12):
// resident memory and CPU over a window, per node, split into the node's own
// processes (containerd, kubelet, kube-proxy), containerd's shims, the pause
// containers, and the pods (kube-rpf's agent and server, anything else).
// Not part of any test run; by hand, on a running cluster:
//
//   node test/bench/node-cost.ts [--seconds 60]
//
// A process belongs to a node by its recorded PID (.cluster/pids/NAME[.nodeN].pid),
// by sharing the mount namespace of that node's containerd (the shims), or by
// its cgroup (node I's kubelet cgroupRoot is /kube-rpf/node-I). Prints one JSON object.
import { readdir, readFile, readlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { clusterDir } from '../e2e/helpers/cluster.ts';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '60' } } });
const seconds = Number(values.seconds);
const ticks = 100; // USER_HZ on Linux
const pageKiB = 4;

interface Proc {
  pid: number;
  node: string;
  group: string;
}

async function read(file: string): Promise<string | undefined> {
  return readFile(file, 'utf8').catch(() => undefined);
}

async function recordedPid(name: string): Promise<number | undefined> {
  const text = await read(path.join(clusterDir, 'pids', `${name}.pid`));
  return text === undefined ? undefined : Number(text.trim());
}

/** The nodes of the running cluster: suffix '' for node 0, '.node2', ... */
async function nodes(): Promise<{ name: string; suffix: string; cgroup: string }[]> {
  const count = Number((await read(path.join(clusterDir, 'nodes')))?.trim() ?? '1');
  return Array.from({ length: count }, (_, i) => ({
    name: i === 0 ? 'kube-rpf-node' : `kube-rpf-node${i + 1}`,
    suffix: i === 0 ? '' : `.node${i + 1}`,
    cgroup: `/kube-rpf/node-${i}/kubepods`,
  }));
}

async function classify(): Promise<Proc[]> {
  const all = await nodes();
  const procs: Proc[] = [];
  const known = new Set<number>();
  const mountNs = new Map<string, string>();
  for (const node of all) {
    for (const component of ['containerd', 'kubelet', 'kube-proxy']) {
      const pid = await recordedPid(`${component}${node.suffix}`);
      if (pid === undefined) continue;
      procs.push({ pid, node: node.name, group: component });
      known.add(pid);
      if (component === 'containerd') {
        const ns = await readlink(`/proc/${pid}/ns/mnt`).catch(() => undefined);
        if (ns !== undefined) mountNs.set(ns, node.name);
      }
    }
  }
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || known.has(Number(entry))) continue;
    const cgroup = await read(`/proc/${entry}/cgroup`);
    const cmdline = (await read(`/proc/${entry}/cmdline`))?.replaceAll('\0', ' ') ?? '';
    if (cgroup === undefined) continue;
    const memoryLine = cgroup.split('\n').find((l) => l.includes(':memory:')) ?? '';
    const node = all.find((n) => memoryLine.includes(`:${n.cgroup}/`));
    if (node !== undefined) {
      const group = cmdline.startsWith('/pause') || cmdline.includes('/pause ') ? 'pause' : cmdline.includes('node-agent/main.js') ? 'rpf-agent' : cmdline.includes('server/main.js') ? 'rpf-server' : 'other pods';
      procs.push({ pid: Number(entry), node: node.name, group });
      continue;
    }
    const ns = await readlink(`/proc/${entry}/ns/mnt`).catch(() => undefined);
    const shimNode = ns === undefined ? undefined : mountNs.get(ns);
    if (shimNode !== undefined && cmdline.includes('containerd-shim')) procs.push({ pid: Number(entry), node: shimNode, group: 'shims' });
  }
  return procs;
}

/** utime + stime in ticks, and RSS in KiB. */
async function sample(pid: number): Promise<{ cpu: number; rssKiB: number } | undefined> {
  const stat = await read(`/proc/${pid}/stat`);
  if (stat === undefined) return undefined;
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { cpu: Number(fields[11]) + Number(fields[12]), rssKiB: Number(fields[21]) * pageKiB };
}

const procs = await classify();
const before = new Map(await Promise.all(procs.map(async (p) => [p.pid, await sample(p.pid)] as const)));
await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
const result: Record<string, Record<string, { processes: number; rssMiB: number; cpuPercentOfOneCore: number }>> = {};
for (const p of procs) {
  const a = before.get(p.pid);
  const b = await sample(p.pid);
  if (a === undefined || b === undefined) continue;
  const node = (result[p.node] ??= {});
  const group = (node[p.group] ??= { processes: 0, rssMiB: 0, cpuPercentOfOneCore: 0 });
  group.processes++;
  group.rssMiB += b.rssKiB / 1024;
  group.cpuPercentOfOneCore += ((b.cpu - a.cpu) / ticks / seconds) * 100;
}
for (const node of Object.values(result)) {
  const total = { processes: 0, rssMiB: 0, cpuPercentOfOneCore: 0 };
  for (const [name, g] of Object.entries(node)) {
    g.rssMiB = Number(g.rssMiB.toFixed(1));
    g.cpuPercentOfOneCore = Number(g.cpuPercentOfOneCore.toFixed(2));
    if (name === 'rpf-agent' || name === 'rpf-server' || name === 'other pods') continue;
    total.processes += g.processes;
    total.rssMiB += g.rssMiB;
    total.cpuPercentOfOneCore += g.cpuPercentOfOneCore;
  }
  node['node total (without pods)'] = { processes: total.processes, rssMiB: Number(total.rssMiB.toFixed(1)), cpuPercentOfOneCore: Number(total.cpuPercentOfOneCore.toFixed(2)) };
}
process.stdout.write(`${JSON.stringify({ seconds, cpus: os.cpus().length, nodes: result }, null, 2)}\n`);
