// The cluster side of the benchmarks: the local cluster up, the current code
// deployed, kubectl-rpf installed as a kubectl plugin, and a namespace with
// one pod that runs the load program's service (the program comes from a
// ConfigMap, so the kube-rpf image carries it without a rebuild).
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { adminKubeconfig, clusterDir, createNamespace, deleteNamespace, kubectlOk, repoRoot } from '../../e2e/helpers/cluster.ts';
import { kubeRpfImage } from '../../e2e/helpers/rpf.ts';
import { podPids } from './processes.ts';

const execFileAsync = promisify(execFile);

/** The port the load program's service listens on in the pod. */
export const POD_SERVICE_PORT = 9000;

/** Where the load program lives on this machine. */
export const LOAD_PROGRAM = path.join(repoRoot, 'test/bench/programs/load.mjs');

/** Where the load program is mounted in the pod. */
export const POD_LOAD_PROGRAM = '/bench/load.mjs';

/** Where kubectl-rpf is installed as a plugin (as test/run.sh does). */
export const PLUGIN_PREFIX = path.join(clusterDir, 'kubectl-plugins');

/** The bench pod and the processes of the cluster that carry traffic. */
export interface BenchCluster {
  readonly namespace: string;
  readonly pod: string;
  readonly podUid: string;
  /** Host pids of cluster components, by name (looked up again on each call: pods restart). */
  componentPids(): Promise<Record<string, number[]>>;
  /** The host pid of the rpf-agent's Node process. */
  agentPid(): Promise<number>;
  close(): Promise<void>;
}

async function run(file: string, args: string[], log: (line: string) => void, what: string): Promise<void> {
  const started = Date.now();
  try {
    await execFileAsync(file, args, { cwd: repoRoot, maxBuffer: 64 << 20, env: { ...process.env, PATH: `${path.join(repoRoot, 'node_modules/.bin')}:${process.env.PATH}` } });
  } catch (error) {
    const e = error as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${what} failed: ${e.message}\n${(e.stderr ?? '').slice(-4000)}`);
  }
  log(`${what}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

/** Brings the cluster up if needed and deploys the current code (both idempotent), then installs the plugin. */
export async function prepareCluster(options: { deploy: boolean }, log: (line: string) => void): Promise<void> {
  try {
    await execFileAsync('bash', ['test/cluster/cluster.sh', 'status'], { cwd: repoRoot });
  } catch {
    await run('npm', ['run', '--silent', 'cluster:up'], log, 'cluster:up');
  }
  if (options.deploy) await run('npm', ['run', '--silent', 'cluster:deploy'], log, 'cluster:deploy');
  await run('npm', ['install', '--global', '--prefix', PLUGIN_PREFIX, '--no-audit', '--no-fund', '--loglevel=error', repoRoot], log, 'kubectl-rpf plugin install');
}

/** PATH with the kubectl-rpf plugin first, so `kubectl rpf` finds it. */
export function pluginPath(): string {
  return `${path.join(PLUGIN_PREFIX, 'bin')}:${process.env.PATH}`;
}

async function pidFile(name: string): Promise<number[]> {
  const { readFile } = await import('node:fs/promises');
  try {
    return [Number((await readFile(path.join(clusterDir, 'pids', `${name}.pid`), 'utf8')).trim())];
  } catch {
    return [];
  }
}

/** The node the bench pod runs on: node 0 of the local cluster. */
const BENCH_NODE = 'kube-rpf-node';

async function uidsOf(selector: string, nodeName?: string): Promise<string[]> {
  const fields = nodeName === undefined ? [] : [`--field-selector=spec.nodeName=${nodeName}`];
  const out = await kubectlOk(['get', 'pods', '-n', 'kube-rpf', '-l', selector, ...fields, '-o', 'jsonpath={.items[*].metadata.uid}']);
  return out.trim().split(/\s+/).filter(Boolean);
}

/** Creates the bench namespace, the load program's ConfigMap and the pod, and waits until the service listens. */
export async function startBenchCluster(log: (line: string) => void): Promise<BenchCluster> {
  const namespace = await createNamespace('rpf-bench');
  const pod = 'bench';
  try {
    await kubectlOk(['create', 'configmap', 'bench-load', '-n', namespace, `--from-file=load.mjs=${LOAD_PROGRAM}`]);
    const manifest = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: pod, namespace },
      spec: {
        // The node whose kubelet and containerd the CPU figures read (.cluster/pids/kubelet.pid is node 0's).
        nodeSelector: { 'kubernetes.io/hostname': BENCH_NODE },
        terminationGracePeriodSeconds: 1,
        containers: [
          {
            name: 'load',
            image: await kubeRpfImage(),
            imagePullPolicy: 'Never',
            command: ['/usr/local/bin/node', POD_LOAD_PROGRAM, 'serve', String(POD_SERVICE_PORT), '::'],
            volumeMounts: [{ name: 'load', mountPath: '/bench' }],
            readinessProbe: { tcpSocket: { port: POD_SERVICE_PORT }, periodSeconds: 1 },
          },
        ],
        volumes: [{ name: 'load', configMap: { name: 'bench-load' } }],
      },
    };
    await kubectlOk(['apply', '-f', '-'], JSON.stringify(manifest));
    await kubectlOk(['wait', '--for=condition=Ready', `pod/${pod}`, '-n', namespace, '--timeout=90s']);
  } catch (error) {
    await deleteNamespace(namespace);
    throw error;
  }
  const podUid = (await kubectlOk(['get', 'pod', pod, '-n', namespace, '-o', 'jsonpath={.metadata.uid}'])).trim();
  log(`bench pod ${namespace}/${pod} ready`);

  const agentPid = async (): Promise<number> => {
    // The agent that carries the bench pod's tunnels: the one on its node.
    const [uid] = await uidsOf('app.kubernetes.io/name=rpf-agent', BENCH_NODE);
    const pids = uid ? await podPids(uid, 'node-agent/main.js') : [];
    if (pids.length === 0) throw new Error('no rpf-agent process found');
    return pids[0]!;
  };

  return {
    namespace,
    pod,
    podUid,
    agentPid,
    async componentPids() {
      const serverPids: number[] = [];
      for (const uid of await uidsOf('app.kubernetes.io/name=rpf-server')) serverPids.push(...(await podPids(uid, 'server/main.js')));
      return {
        'kube-apiserver': await pidFile('kube-apiserver'),
        kubelet: await pidFile('kubelet'),
        containerd: await pidFile('containerd'),
        // containerd's shims relay exec output; the CRI streaming server (port-forward) is in containerd itself.
        'rpf-server': serverPids,
        'rpf-agent': [await agentPid()],
        'pod service': await podPids(podUid, `serve ${POD_SERVICE_PORT}`),
      };
    },
    close: () => deleteNamespace(namespace),
  };
}

/** `kubectl --kubeconfig ADMIN exec [-i] -n NS POD -- node load.mjs ARGS`, as an argument list for kubectl. */
export function podExecArgs(cluster: BenchCluster, args: string[], stdin = false): string[] {
  return ['--kubeconfig', adminKubeconfig, 'exec', ...(stdin ? ['-i'] : []), '-n', cluster.namespace, cluster.pod, '--', '/usr/local/bin/node', POD_LOAD_PROGRAM, ...args];
}
