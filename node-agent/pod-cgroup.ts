// Whether a process's /proc/PID/cgroup puts it in a given pod, exactly as
// kubelet names pod cgroups (issue 8, finding 7): a substring match would let
// a pod that can create cgroups (`/kubepods/podOTHER/c/pod<UID>`) pass for
// another pod. Pure: text in, verdict out.
//
//   cgroupfs driver: [ROOT/]kubepods[/besteffort|/burstable]/pod<UID>/<container>
//   systemd driver:  [ROOT.slice/]kubepods[-besteffort|-burstable].slice/
//                    kubepods[-besteffort|-burstable]-pod<UID_with_underscores>.slice/<container>.scope
//                    (with a cgroup root such as kind's /kubelet, every slice is prefixed `kubelet-`)
//
// The agent may live in a cgroup namespace of its own; other processes' paths
// then start with `/..` runs that hide the shared ancestors (kubepods, the
// QoS class). Those leading `..` may stand for the expected parents, nothing
// else may. The FIRST component that looks like any pod's cgroup must be this
// pod's, at the place kubelet puts it, followed by exactly one container
// component; cgroups created below a pod's own cgroup come after that pod's
// component and so can never pass for another pod.

const ANY_POD_CGROUPFS = /^pod[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ANY_POD_SYSTEMD = /-pod[0-9a-f]{8}_[0-9a-f]{4}_[0-9a-f]{4}_[0-9a-f]{4}_[0-9a-f]{12}\.slice$/i;
const QOS = new Set(['besteffort', 'burstable']);
// CRI-O puts conmon (which runs in the HOST network namespace) in the pod's
// cgroup by default: never a process of the pod's sandbox.
const CONMON = /^crio-conmon-/;

type Verdict = 'this-pod' | 'other' | 'none';

/** Whether one cgroup path (one line's third field) is a container cgroup of pod `podUID`. */
function judgePath(cgroupPath: string, podUID: string): Verdict {
  const all = cgroupPath.split('/').filter((c) => c !== '' && c !== '.');
  let hidden = 0;
  while (all[hidden] === '..') hidden++;
  const parts = all.slice(hidden);
  const index = parts.findIndex((c) => ANY_POD_CGROUPFS.test(c) || ANY_POD_SYSTEMD.test(c));
  if (index === -1) return 'none';
  const component = parts[index]!;
  const parents = parts.slice(0, index);
  const rest = parts.slice(index + 1);
  const container = rest.length === 1 && !CONMON.test(rest[0]!);
  if (ANY_POD_CGROUPFS.test(component)) {
    if (component.toLowerCase() !== `pod${podUID.toLowerCase()}`) return 'other';
    // Expected parents, nearest first: [qos,] kubepods. Leading `..` may hide them.
    const [p1, p2] = [parents.at(-1), parents.at(-2)];
    const placed =
      p1 === 'kubepods' ||
      (p1 !== undefined && QOS.has(p1) && (p2 === 'kubepods' || (p2 === undefined && hidden > 0))) ||
      (p1 === undefined && hidden > 0);
    return placed && container ? 'this-pod' : 'other';
  }
  const uid = podUID.toLowerCase().replaceAll('-', '_');
  const match = /^(.*kubepods(?:-besteffort|-burstable)?)-pod([0-9a-f_]{36})\.slice$/i.exec(component);
  if (!match || match[2]!.toLowerCase() !== uid) return 'other';
  // The systemd driver names a slice after its parent: `a-b-pod<uid>.slice` lives in `a-b.slice`.
  const prefix = match[1]!;
  if (!/^([a-z0-9_]+-)*kubepods(-besteffort|-burstable)?$/i.test(prefix)) return 'other';
  const parent = parents.at(-1);
  const placed = parent === `${prefix}.slice` || (parent === undefined && hidden > 0);
  return placed && container && rest[0]!.endsWith('.scope') ? 'this-pod' : 'other';
}

/**
 * Whether the text of /proc/PID/cgroup puts the process in a container of pod
 * `podUID`: at least one hierarchy says so exactly, and none names another
 * pod or this pod in a shape kubelet does not make.
 */
export function inPodCgroup(cgroupFile: string, podUID: string): boolean {
  let found = false;
  for (const line of cgroupFile.split('\n')) {
    if (line.trim() === '') continue;
    // hierarchy-ID:controllers:path; the path may itself contain ':'.
    const second = line.indexOf(':', line.indexOf(':') + 1);
    if (second === -1) return false;
    const verdict = judgePath(line.slice(second + 1), podUID);
    if (verdict === 'other') return false;
    if (verdict === 'this-pod') found = true;
  }
  return found;
}
