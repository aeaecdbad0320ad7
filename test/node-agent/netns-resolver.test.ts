import { mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { NetnsResolver } from '../../node-agent/netns-resolver.ts';
import { scratchDir } from '../helpers/scratch-dir.ts';

const UID = '6d60c094-843f-47c1-bab0-3ee0d32f064e';

/** A fake /proc: processes with a cgroup file and an ns/net link. */
async function fakeProc(processes: Record<string, { cgroup: string; netns: string }>): Promise<string> {
  const root = scratchDir('fake-proc-');
  for (const [pid, { cgroup, netns }] of Object.entries(processes)) {
    await mkdir(path.join(root, pid, 'ns'), { recursive: true });
    await writeFile(path.join(root, pid, 'cgroup'), cgroup);
    await symlink(netns, path.join(root, pid, 'ns', 'net'));
  }
  await writeFile(path.join(root, 'uptime'), '1 1'); // not a process
  return root;
}

test('finds a pod by its cgroupfs-driver cgroup path', async (t) => {
  const proc = await fakeProc({
    '1': { cgroup: '0::/init.scope\n', netns: 'net:[1]' },
    '4242': { cgroup: `4:pids:/kube-rpf/kubepods/besteffort/pod${UID}/0123abcd\n`, netns: 'net:[4026532297]' },
  });
  const netns = await new NetnsResolver({ procRoot: proc }).resolve(UID);
  t.is(netns.pid, 4242);
  t.is(netns.id, 'net:[4026532297]');
  t.is(netns.path, path.join(proc, '4242', 'ns', 'net'));
});

test('finds a pod by its systemd-driver slice name', async (t) => {
  const slice = `kubepods-burstable-pod${UID.replaceAll('-', '_')}.slice`;
  const proc = await fakeProc({ '77': { cgroup: `0::/kubepods.slice/kubepods-burstable.slice/${slice}/cri-containerd-ab.scope\n`, netns: 'net:[99]' } });
  t.is((await new NetnsResolver({ procRoot: proc }).resolve(UID)).pid, 77);
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
