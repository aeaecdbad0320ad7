// Run after `cluster.sh down`: the cluster left nothing behind on this machine.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { clusterDir } from '../e2e/helpers/cluster.ts';

const processesFile = process.env.KUBE_RPF_PROCESSES_BEFORE_DOWN;

test('no process the cluster ran is still running', (t) => {
  if (!processesFile) return t.fail('KUBE_RPF_PROCESSES_BEFORE_DOWN names the process list taken before down');
  const before = readFileSync(processesFile, 'utf8').trim().split('\n').filter(Boolean);
  t.true(before.length >= 7, `expected the components and pods in the list, got ${before.length}`);
  const survivors = before.filter((line) => {
    const [pid, start] = line.split(' ');
    if (!existsSync(`/proc/${pid}/stat`)) return false;
    // After the command name: field 3 is the state, field 22 the start time; the
    // same start time means the same process, and a zombie has already exited.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[0] !== 'Z' && fields[19] === start;
  });
  t.deepEqual(survivors, []);
});

test('no mount of the cluster remains', (t) => {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((point) => point.startsWith(`${clusterDir}/`) || point.startsWith('/run/kube-rpf') || point.startsWith('/run/netns/kube-rpf-node'));
  t.deepEqual(mounts, []);
});

test('every node network namespace (kube-rpf-node, kube-rpf-node2...), their veths and the routes to the pods are gone', (t) => {
  t.notRegex(execFileSync('ip', ['netns', 'list']).toString(), /kube-rpf-node/);
  t.notRegex(execFileSync('ip', ['-br', 'link']).toString(), /rpf-host\d|rpf-node\d|rpf-n\d-\d/);
  t.notRegex(execFileSync('ip', ['route']).toString(), /10\.21[12]\./);
});

test('the cluster cgroups are removed', (t) => {
  t.false(existsSync('/sys/fs/cgroup/pids/kube-rpf'));
  t.false(existsSync('/sys/fs/cgroup/memory/kube-rpf'));
});

test('kube-apiserver and etcd ports are free again', (t) => {
  const listening = execFileSync('ss', ['-Hltn']).toString();
  t.notRegex(listening, /:6443\s/);
  t.notRegex(listening, /127\.0\.0\.1:2379\s/);
});
