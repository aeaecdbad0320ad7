import { link, mkdir, rm, stat as statFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { NetnsResolver, startTimeOf } from '../../node-agent/netns-resolver.ts';
import { scratchDir } from '../helpers/scratch-dir.ts';

const UID = '6d60c094-843f-47c1-bab0-3ee0d32f064e';
const OTHER = '0b1e2a3c-4d5e-4f60-8172-839405a6b7c8';
const UNDERSCORED = UID.replaceAll('-', '_');

interface FakeProcess {
  cgroup: string;
  netns: string;
  comm?: string;
  startTime?: string;
}

/** /proc/PID/stat with a comm and a start time (field 22); the comm may hold spaces and parentheses. */
function stat(pid: string, comm: string, startTime: string): string {
  const after = ['S', '1', pid, pid, '0', '-1', '4194560', '0', '0', '0', '0', '0', '0', '0', '0', '20', '0', '1', '0', startTime, '1000', '10'];
  return `${pid} (${comm}) ${after.join(' ')}\n`;
}

/**
 * A fake /proc: processes with a cgroup file, a stat file and ns/net. A
 * namespace is a file under .ns/, hard-linked as each of its processes'
 * ns/net: same inode, same namespace, as with the real /proc.
 */
async function fakeProc(processes: Record<string, FakeProcess>): Promise<string> {
  const root = scratchDir('fake-proc-');
  for (const [pid, process] of Object.entries(processes)) await addProcess(root, pid, process);
  await writeFile(path.join(root, 'uptime'), '1 1'); // not a process
  return root;
}

async function addProcess(root: string, pid: string, { cgroup, netns, comm = 'app', startTime = '100' }: FakeProcess): Promise<void> {
  await mkdir(path.join(root, pid, 'ns'), { recursive: true });
  await writeFile(path.join(root, pid, 'cgroup'), cgroup);
  await writeFile(path.join(root, pid, 'stat'), stat(pid, comm, startTime));
  const ns = path.join(root, '.ns', netns);
  await mkdir(path.dirname(ns), { recursive: true });
  await writeFile(ns, '', { flag: 'a' });
  await link(ns, path.join(root, pid, 'ns', 'net'));
}

/** The PID the resolver picks (its namespace descriptor closed again). */
async function resolvedPid(procRoot: string): Promise<number> {
  const netns = await new NetnsResolver({ procRoot }).resolve(UID);
  await netns.close();
  return netns.pid;
}

/** The id the resolver reports for a fake namespace: its file's inode. */
async function nsId(root: string, netns: string): Promise<string> {
  return `net:[${(await statFile(path.join(root, '.ns', netns))).ino}]`;
}

test('finds a pod by its cgroupfs-driver cgroup path', async (t) => {
  const proc = await fakeProc({
    '1': { cgroup: '0::/init.scope\n', netns: 'net:[1]' },
    '4242': { cgroup: `4:pids:/kube-rpf/kubepods/besteffort/pod${UID}/0123abcd\n`, netns: 'net:[4026532297]', startTime: '777' },
  });
  const netns = await new NetnsResolver({ procRoot: proc }).resolve(UID);
  t.teardown(() => netns.close());
  t.is(netns.pid, 4242);
  t.is(netns.startTime, '777');
  t.is(netns.id, await nsId(proc, 'net:[4026532297]'), "the opened descriptor's identity");
  t.true(netns.fd >= 0);
  t.is(netns.path, path.join(proc, '4242', 'ns', 'net'));
});

test('finds a pod by its systemd-driver slice name', async (t) => {
  const slice = `kubepods-burstable-pod${UNDERSCORED}.slice`;
  const proc = await fakeProc({ '77': { cgroup: `0::/kubepods.slice/kubepods-burstable.slice/${slice}/cri-containerd-ab.scope\n`, netns: 'net:[99]' } });
  t.is(await resolvedPid(proc), 77);
});

// Each of these names the pod UID in its cgroup path, but not where kubelet
// puts a pod's containers: a pod that can create cgroups could make any of
// them, so none may pass for the pod (issue 8, finding 7).
const hostile: Array<[string, string]> = [
  ['a cgroup made below another pod', `0::/kubepods/pod${OTHER}/abc/pod${UID}/x\n`],
  ['the same, below a QoS class', `0::/kubepods/besteffort/pod${OTHER}/abc/kubepods/besteffort/pod${UID}/x\n`],
  ['a pod-named cgroup outside kubepods', `0::/foo/pod${UID}/x\n`],
  ['a pod-named cgroup under an unknown QoS', `0::/kubepods/gold/pod${UID}/x\n`],
  ['the UID as a substring of a component', `0::/kubepods/besteffort/xpod${UID}/x\n`],
  ['the pod cgroup itself, no container', `0::/kubepods/besteffort/pod${UID}\n`],
  ['a cgroup nested below a container', `0::/kubepods/besteffort/pod${UID}/abc/nested\n`],
  ['a systemd slice below another pod', `0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${OTHER.replaceAll('-', '_')}.slice/cri-containerd-a.scope/kubepods-besteffort-pod${UNDERSCORED}.slice/b.scope\n`],
  ['a systemd slice under the wrong parent', `0::/kubepods.slice/kubepods-burstable.slice/kubepods-besteffort-pod${UNDERSCORED}.slice/a.scope\n`],
  ['a systemd slice outside kubepods', `0::/user.slice/evil-pod${UNDERSCORED}.slice/a.scope\n`],
  ['CRI-O conmon, in the pod cgroup but in the host network namespace', `0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UNDERSCORED}.slice/crio-conmon-ab.scope\n`],
  ['cgroup v1: one hierarchy names the pod, another a different pod', `4:pids:/kubepods/besteffort/pod${UID}/a\n3:cpu:/kubepods/besteffort/pod${OTHER}/b\n`],
];

for (const [name, cgroup] of hostile) {
  test(`not the pod: ${name}`, async (t) => {
    const proc = await fakeProc({ '66': { cgroup, netns: 'net:[66]' } });
    const error = await t.throwsAsync(new NetnsResolver({ procRoot: proc }).resolve(UID));
    t.is((error as { code?: string }).code, 'RPF_ERR_AGENT_POD_NOT_FOUND');
  });
}

const genuine: Array<[string, string]> = [
  ['cgroupfs, guaranteed QoS', `0::/kubepods/pod${UID}/0123abcd\n`],
  ['cgroupfs, burstable, under a cgroup root', `0::/kubelet/kubepods/burstable/pod${UID}/0123abcd\n`],
  ['cgroupfs seen from another cgroup namespace (the shared parents hidden by ..)', `0::/../../pod${UID}/0123abcd\n`],
  ['cgroupfs seen from another cgroup namespace, QoS shown', `0::/../../../burstable/pod${UID}/0123abcd\n`],
  ['systemd, guaranteed QoS', `0::/kubepods.slice/kubepods-pod${UNDERSCORED}.slice/cri-containerd-ab.scope\n`],
  ['systemd under kind\'s /kubelet root', `0::/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod${UNDERSCORED}.slice/cri-containerd-ab.scope\n`],
  ['systemd seen from another cgroup namespace', `0::/../../kubepods-besteffort-pod${UNDERSCORED}.slice/crio-ab.scope\n`],
  ['cgroup v1, every hierarchy agreeing', `12:pids:/kubepods/besteffort/pod${UID}/a\n1:name=systemd:/kubepods/besteffort/pod${UID}/a\n0::/\n`],
];

for (const [name, cgroup] of genuine) {
  test(`the pod: ${name}`, async (t) => {
    const proc = await fakeProc({ '55': { cgroup, netns: 'net:[55]' } });
    t.is(await resolvedPid(proc), 55);
  });
}

test("the pod's sandbox (pause) process is preferred over its containers' processes", async (t) => {
  const proc = await fakeProc({
    '10': { cgroup: `0::/kubepods/besteffort/pod${UID}/app\n`, netns: 'net:[5]', comm: 'node' },
    '11': { cgroup: `0::/kubepods/besteffort/pod${UID}/sandbox\n`, netns: 'net:[5]', comm: 'pause' },
  });
  t.is(await resolvedPid(proc), 11);
});

test('recheck: the same process is still the pod; a reused PID (other start time) or another cgroup is not', async (t) => {
  const proc = await fakeProc({ '11': { cgroup: `0::/kubepods/besteffort/pod${UID}/sandbox\n`, netns: 'net:[5]', comm: 'pause', startTime: '500' } });
  const resolver = new NetnsResolver({ procRoot: proc });
  const netns = await resolver.resolve(UID);
  await netns.close();
  t.deepEqual(await resolver.recheck(UID, netns), { pid: 11, startTime: '500' });
  await writeFile(path.join(proc, '11', 'stat'), stat('11', 'sh', '900'));
  await writeFile(path.join(proc, '11', 'cgroup'), '0::/user.slice/session-1.scope\n');
  t.is(await resolver.recheck(UID, netns), undefined, 'the PID was reused');
  await writeFile(path.join(proc, '11', 'stat'), stat('11', 'pause', '500'));
  await writeFile(path.join(proc, '11', 'cgroup'), `0::/kubepods/besteffort/pod${OTHER}/x\n`);
  t.is(await resolver.recheck(UID, netns), undefined, 'no longer in the pod');
  await rm(path.join(proc, '11'), { recursive: true });
  t.is(await resolver.recheck(UID, netns), undefined, 'the process is gone');
});

test('recheck: another process of the pod in the same namespace keeps it alive; one in another namespace does not', async (t) => {
  const proc = await fakeProc({ '11': { cgroup: `0::/kubepods/besteffort/pod${UID}/app\n`, netns: 'net:[5]', startTime: '500' } });
  const resolver = new NetnsResolver({ procRoot: proc });
  const netns = await resolver.resolve(UID);
  await netns.close();
  await rm(path.join(proc, '11'), { recursive: true });
  await addProcess(proc, '12', { cgroup: `0::/kubepods/besteffort/pod${UID}/app2\n`, netns: 'net:[6]' });
  t.is(await resolver.recheck(UID, netns), undefined);
  await addProcess(proc, '13', { cgroup: `0::/kubepods/besteffort/pod${UID}/app3\n`, netns: 'net:[5]', startTime: '600' });
  t.deepEqual(await resolver.recheck(UID, netns), { pid: 13, startTime: '600' });
});

test('the start time is field 22 of /proc/PID/stat, whatever the command name holds', (t) => {
  t.is(startTimeOf(stat('9', 'a) b (c', '31337')), '31337');
  t.is(startTimeOf('garbage'), undefined);
});

test('a pod with no process on this node is not found', async (t) => {
  const proc = await fakeProc({ '1': { cgroup: '0::/\n', netns: 'net:[1]' } });
  const error = await t.throwsAsync(new NetnsResolver({ procRoot: proc }).resolve(UID));
  t.is((error as { code?: string }).code, 'RPF_ERR_AGENT_POD_NOT_FOUND');
});

test('a malformed pod UID is refused before /proc is read', async (t) => {
  const error = await t.throwsAsync(new NetnsResolver({ procRoot: '/nonexistent' }).resolve('../../etc'));
  t.is((error as { code?: string }).code, 'RPF_ERR_AGENT_BAD_REQUEST');
});

test('a remembered sandbox process serves the next resolve only while it is still the pod’s (PID reuse is caught)', async (t) => {
  const podCgroup = `0::/kubepods/besteffort/pod${UID}/0123abcd\n`;
  const proc = await fakeProc({
    '10': { cgroup: podCgroup, netns: 'net:[500]', comm: 'pause', startTime: '300' },
  });
  const resolver = new NetnsResolver({ procRoot: proc });
  const first = await resolver.resolve(UID);
  await first.close();
  const second = await resolver.resolve(UID);
  await second.close();
  t.is(second.pid, 10);
  // The PID reused by a process that started later (another pod's): the
  // remembered entry fails its check and the scan finds the pod's new sandbox.
  await rm(path.join(proc, '10'), { recursive: true });
  await addProcess(proc, '10', { cgroup: `0::/kubepods/besteffort/pod${OTHER}/ffff\n`, netns: 'net:[600]', comm: 'pause', startTime: '900' });
  await addProcess(proc, '20', { cgroup: podCgroup, netns: 'net:[700]', comm: 'pause', startTime: '950' });
  const third = await resolver.resolve(UID);
  await third.close();
  t.is(third.pid, 20);
  t.is(third.id, await nsId(proc, 'net:[700]'));
});
