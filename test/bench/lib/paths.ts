// The five paths, set up once per bench run, each able to run the load
// program's caller against the load program's service through itself:
//
//   kube-rpf              caller in the pod -> 127.0.0.1:R in the pod -> agent -> rpf-server
//                         -> kube-apiserver -> kubectl rpf -> service on this machine
//   kubectl port-forward  caller here -> kubectl -> kube-apiserver -> kubelet -> containerd
//                         -> service in the pod (the forward direction: the same bytes, the other way round)
//   ssh -R                caller here -> private sshd's listener -> ssh -> service here
//   Node relay            caller here -> a plain Node net relay -> service here
//   direct TCP            caller here -> service here (the limit)
import { adminKubeconfig } from '../../e2e/helpers/cluster.ts';
import { LOAD_PROGRAM, POD_SERVICE_PORT, pluginPath, podExecArgs, type BenchCluster } from './bench-cluster.ts';
import { descendants, startProcess, type Started } from './processes.ts';
import { PATH_LABELS, type PathId } from './results.ts';
import { startPrivateSshd, startSshForward, type PrivateSshd } from './sshd.ts';

/** Which way the bytes go, named from the user's point of view (the pod calls home through kube-rpf). */
export type Flow = 'pod-to-machine' | 'machine-to-pod';

/** The JSON line a caller prints (fields depend on the test); `error` when it failed. */
export type CallerResult = Record<string, unknown> & { error?: string; cpuMs?: number };

/** One path as the scenarios see it. */
export interface BenchPath {
  readonly id: PathId;
  readonly label: string;
  /** kubectl port-forward only: the service is in the pod and the caller here. */
  readonly serviceInPod: boolean;
  /** kube-rpf only: the caller runs in the pod. */
  readonly callerInPod: boolean;
  /** The caller's transfer direction (`up`: caller sends) that moves bytes along `flow`. */
  direction(flow: Flow): 'up' | 'down';
  /** Runs one caller test to its end; a timeout or crash becomes `{error}`. */
  run(test: string, options: Record<string, unknown>, timeoutMs: number): Promise<CallerResult>;
  /** Starts a caller with stdin open (for `many`). */
  start(test: string, options: Record<string, unknown>): Started;
  /** The processes that carry this path's bytes, besides caller and service endpoints' own work, by name. */
  processes(): Promise<Record<string, number[]>>;
  /** Restarts the path's tunnel process (after a stall or a failure), so later runs start clean. */
  recover(): Promise<void>;
  /** A bookmark in the tunnel process's stderr, for {@link lastWords}. */
  mark(): StderrMark;
  /** The tunnel process's last stderr line since `mark`, if it said anything (often why a run failed). */
  lastWords(mark: StderrMark): string | undefined;
}

/** Where a tunnel process's stderr stood at some moment. */
export interface StderrMark {
  readonly process: Started | undefined;
  readonly length: number;
}

/** Every path plus what they share. */
export interface PathSet {
  readonly paths: BenchPath[];
  readonly localServicePort: number;
  readonly localService: Started;
  /** The private sshd the ssh -R path logs in to. */
  readonly sshd: PrivateSshd;
  /** Restarts nothing; stops every process the set started. */
  close(): Promise<void>;
}

const LISTENING = /^\{"event":"listening","port":(\d+)\}$/;

/** Starts `node load.mjs serve|relay ...` here and returns it with its port. */
export async function startLocal(args: string[]): Promise<{ process: Started; port: number }> {
  const started = startProcess(process.execPath, [LOAD_PROGRAM, ...args]);
  const m = await started.waitForLine(LISTENING, 10_000);
  return { process: started, port: Number(m[1]) };
}

/** Parses the caller's last JSON line. */
function parseResult(started: Started, code: number | null, fallback: string): CallerResult {
  for (let i = started.lines.length - 1; i >= 0; i--) {
    const line = started.lines[i]!.trim();
    if (!line.startsWith('{')) continue;
    try {
      const parsed = JSON.parse(line) as CallerResult;
      if (parsed.event === undefined) return parsed;
    } catch {
      // not JSON
    }
  }
  return { error: `${fallback} (exit ${code}): ${started.stderr().trim().split('\n').slice(-3).join(' | ')}` };
}

async function runToEnd(started: Started, timeoutMs: number, what: string): Promise<CallerResult> {
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    void started.stop('SIGKILL');
  }, timeoutMs + 5_000);
  const { code } = await started.exited;
  clearTimeout(timer);
  if (timedOut) return { error: `${what}: no result within ${timeoutMs} ms` };
  return parseResult(started, code, what);
}

interface PathSpec {
  id: PathId;
  serviceInPod: boolean;
  callerInPod: boolean;
  target: () => { host: string; port: number };
  processes: () => Promise<Record<string, number[]>>;
  recover: () => Promise<void>;
  tunnel?: () => Started;
}

function lastLine(started: Started | undefined, mark: StderrMark): string | undefined {
  if (started === undefined) return undefined;
  // A tunnel restarted since the mark: all of the new one's output is news.
  const text = started.stderr().slice(mark.process === started ? mark.length : 0);
  const lines = text.split('\n').filter((l) => l.trim() !== '' && !/^(Warning: Permanently added|Handling connection)/.test(l));
  return lines.length ? lines[lines.length - 1]!.trim() : undefined;
}

function makePath(spec: PathSpec, cluster: BenchCluster): BenchPath {
  const callerArgs = (test: string, options: Record<string, unknown>) => {
    const { host, port } = spec.target();
    return ['client', test, host, String(port), JSON.stringify(options)];
  };
  const spawnCaller = (test: string, options: Record<string, unknown>, stdin: boolean): Started =>
    spec.callerInPod
      ? startProcess('kubectl', podExecArgs(cluster, callerArgs(test, options), stdin), { stdin })
      : startProcess(process.execPath, [LOAD_PROGRAM, ...callerArgs(test, options)], { stdin });
  return {
    id: spec.id,
    label: PATH_LABELS[spec.id],
    serviceInPod: spec.serviceInPod,
    callerInPod: spec.callerInPod,
    direction: (flow) => ((flow === 'pod-to-machine') !== spec.serviceInPod ? 'up' : 'down'),
    run: (test, options, timeoutMs) => runToEnd(spawnCaller(test, { ...options, deadlineMs: timeoutMs }, false), timeoutMs, `${spec.id} ${test}`),
    start: (test, options) => spawnCaller(test, options, true),
    processes: spec.processes,
    recover: spec.recover,
    mark: () => {
      const process = spec.tunnel?.();
      return { process, length: process?.stderr().length ?? 0 };
    },
    lastWords: (mark) => lastLine(spec.tunnel?.(), mark),
  };
}

/** Starts `kubectl rpf -n NS POD 0:LOCAL` and returns it with the port the pod picked. */
export async function startKubectlRpf(cluster: BenchCluster, localPort: number, timeoutMs = 30_000): Promise<{ process: Started; port: number }> {
  const started = startProcess('kubectl', ['rpf', '-n', cluster.namespace, cluster.pod, `0:${localPort}`], {
    env: { ...process.env, PATH: pluginPath(), KUBECONFIG: adminKubeconfig },
  });
  try {
    const m = await started.waitForLine(/^Forwarding from 127\.0\.0\.1:(\d+) in pod /, timeoutMs);
    return { process: started, port: Number(m[1]) };
  } catch (error) {
    await started.stop('SIGKILL');
    throw error;
  }
}

/** Starts `kubectl port-forward -n NS pod/POD 0:9000` and returns it with the local port it picked. */
export async function startKubectlPortForward(cluster: BenchCluster, timeoutMs = 30_000): Promise<{ process: Started; port: number }> {
  const started = startProcess('kubectl', ['--kubeconfig', adminKubeconfig, 'port-forward', '-n', cluster.namespace, `pod/${cluster.pod}`, '--address', '127.0.0.1', `0:${POD_SERVICE_PORT}`]);
  try {
    const m = await started.waitForLine(/^Forwarding from 127\.0\.0\.1:(\d+) -> /, timeoutMs);
    return { process: started, port: Number(m[1]) };
  } catch (error) {
    await started.stop('SIGKILL');
    throw error;
  }
}

/** Sets up every path: the local service, the relay, sshd and ssh -R, kubectl rpf and kubectl port-forward. */
export async function startPaths(cluster: BenchCluster, log: (line: string) => void): Promise<PathSet> {
  const owned: Array<{ stop(): Promise<void> }> = [];
  const service = await startLocal(['serve', '0', '127.0.0.1']);
  owned.push({ stop: () => service.process.stop() });
  let sshd: PrivateSshd | undefined;
  try {
    const relay = await startLocal(['relay', '0', '127.0.0.1', String(service.port)]);
    owned.push({ stop: () => relay.process.stop() });
    sshd = await startPrivateSshd();
    let ssh = await startSshForward(sshd, service.port);
    let rpf = await startKubectlRpf(cluster, service.port);
    let pf = await startKubectlPortForward(cluster);
    owned.push({ stop: () => ssh.process.stop() }, { stop: () => rpf.process.stop('SIGINT') }, { stop: () => pf.process.stop() });
    log(`paths: service 127.0.0.1:${service.port}, relay :${relay.port}, sshd :${sshd.port} -R :${ssh.port}, kube-rpf pod :${rpf.port}, port-forward :${pf.port}`);
    const machineService = { 'service (machine)': [service.process.pid] };
    const theSshd = sshd;
    const paths: BenchPath[] = [
      makePath(
        {
          id: 'kube-rpf',
          serviceInPod: false,
          callerInPod: true,
          target: () => ({ host: '127.0.0.1', port: rpf.port }),
          tunnel: () => rpf.process,
          processes: async () => {
            const c = await cluster.componentPids();
            return { 'kubectl rpf': [rpf.process.pid], 'kube-apiserver': c['kube-apiserver']!, 'rpf-server': c['rpf-server']!, 'rpf-agent': c['rpf-agent']!, ...machineService };
          },
          recover: async () => {
            await rpf.process.stop('SIGINT');
            rpf = await startKubectlRpf(cluster, service.port);
          },
        },
        cluster,
      ),
      makePath(
        {
          id: 'kubectl-port-forward',
          serviceInPod: true,
          callerInPod: false,
          target: () => ({ host: '127.0.0.1', port: pf.port }),
          tunnel: () => pf.process,
          processes: async () => {
            const c = await cluster.componentPids();
            return { 'kubectl port-forward': [pf.process.pid], 'kube-apiserver': c['kube-apiserver']!, kubelet: c.kubelet!, containerd: c.containerd!, 'service (pod)': c['pod service']! };
          },
          recover: async () => {
            await pf.process.stop();
            pf = await startKubectlPortForward(cluster);
          },
        },
        cluster,
      ),
      makePath(
        {
          id: 'ssh-r',
          serviceInPod: false,
          callerInPod: false,
          target: () => ({ host: '127.0.0.1', port: ssh.port }),
          tunnel: () => ssh.process,
          processes: async () => ({ ssh: [ssh.process.pid], sshd: await descendants(theSshd.process.pid), ...machineService }),
          recover: async () => {
            await ssh.process.stop();
            ssh = await startSshForward(theSshd, service.port);
          },
        },
        cluster,
      ),
      makePath(
        {
          id: 'node-relay',
          serviceInPod: false,
          callerInPod: false,
          target: () => ({ host: '127.0.0.1', port: relay.port }),
          tunnel: () => relay.process,
          processes: async () => ({ 'Node relay': [relay.process.pid], ...machineService }),
          recover: async () => {},
        },
        cluster,
      ),
      makePath(
        {
          id: 'direct',
          serviceInPod: false,
          callerInPod: false,
          target: () => ({ host: '127.0.0.1', port: service.port }),
          processes: async () => ({ ...machineService }),
          recover: async () => {},
        },
        cluster,
      ),
    ];
    return {
      paths,
      localServicePort: service.port,
      localService: service.process,
      sshd: theSshd,
      async close() {
        for (const o of owned.reverse()) await o.stop();
        await theSshd.close();
      },
    };
  } catch (error) {
    for (const o of owned.reverse()) await o.stop();
    await sshd?.close();
    throw error;
  }
}
