// Driving `kubectl rpf` (the kubectl-rpf plugin on PATH) as a user would, and
// pods that call home through it.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { adminKubeconfig, kubectl, kubectlOk } from './cluster.ts';

/** One `Forwarding from ADDRESS:PORT in pod NS/POD -> localhost:LOCAL` line. */
export interface ForwardingLine {
  address: string;
  remotePort: number;
  pod: string;
  localPort: number;
}

/** A running `kubectl rpf`. */
export interface RpfProcess {
  child: ChildProcess;
  forwarding: ForwardingLine[];
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (null if killed by a signal) once the process ends. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /**
   * Ctrl-C, then the exit. A client still running `timeoutMs` after Ctrl-C is
   * killed and the promise rejects with what it printed: a hang is a failure
   * with evidence, never a test that waits for ever.
   */
  stop(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const FORWARDING = /^Forwarding from (\[[^\]]+\]|[^:\s]+):(\d+) in pod (\S+) -> localhost:(\d+)$/;

/** Spawns `kubectl rpf ARGS` with KUBECONFIG set; does not wait. */
export function spawnRpf(args: string[], kubeconfig = adminKubeconfig): RpfProcess {
  const child = spawn('kubectl', ['rpf', ...args], { env: { ...process.env, KUBECONFIG: kubeconfig }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const forwarding: ForwardingLine[] = [];
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    forwarding.length = 0;
    for (const line of out.split('\n')) {
      const m = FORWARDING.exec(line.trim());
      if (m) forwarding.push({ address: m[1]!.replace(/^\[|\]$/g, ''), remotePort: Number(m[2]), pod: m[3]!, localPort: Number(m[4]) });
    }
  });
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
  return {
    child,
    forwarding,
    stdout: () => out,
    stderr: () => err,
    exited,
    async stop(timeoutMs = 15_000) {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill('SIGINT');
      let timer: NodeJS.Timeout | undefined;
      const hung = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          child.kill('SIGKILL');
          reject(new Error(`kubectl rpf ${args.join(' ')} did not exit within ${timeoutMs} ms of Ctrl-C; it printed: ${out} ${err}`));
        }, timeoutMs);
      });
      return Promise.race([exited, hung]).finally(() => clearTimeout(timer));
    },
  };
}

/** Starts `kubectl rpf ARGS` and waits for `lines` Forwarding lines; throws with its stderr if it exits first. */
export async function startRpf(args: string[], lines: number, kubeconfig = adminKubeconfig, timeoutMs = 30_000): Promise<RpfProcess> {
  const rpf = spawnRpf(args, kubeconfig);
  const deadline = Date.now() + timeoutMs;
  while (rpf.forwarding.length < lines) {
    if (rpf.child.exitCode !== null) throw new Error(`kubectl rpf ${args.join(' ')} exited ${rpf.child.exitCode}: ${rpf.stderr().trim()}`);
    if (Date.now() > deadline) {
      await rpf.stop();
      throw new Error(`kubectl rpf ${args.join(' ')} printed ${rpf.forwarding.length} of ${lines} Forwarding lines in ${timeoutMs} ms: ${rpf.stdout()} ${rpf.stderr()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return rpf;
}

/** Runs `kubectl rpf ARGS` expecting it to fail; resolves with its exit code and stderr. */
export async function runRpfExpectingFailure(args: string[], kubeconfig = adminKubeconfig, timeoutMs = 60_000): Promise<{ code: number | null; stderr: string; stdout: string }> {
  const rpf = spawnRpf(args, kubeconfig);
  const timer = setTimeout(() => rpf.child.kill('SIGKILL'), timeoutMs);
  const { code } = await rpf.exited;
  clearTimeout(timer);
  return { code, stderr: rpf.stderr(), stdout: rpf.stdout() };
}

const programs = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'programs');

/** The image kube-rpf is deployed with; it carries Node.js, so pods can run the load program. */
export async function kubeRpfImage(): Promise<string> {
  return (await kubectlOk(['get', 'daemonset', 'rpf-agent', '-n', 'kube-rpf', '-o', 'jsonpath={.spec.template.spec.containers[0].image}'])).trim();
}

/** Starts a pod of the kube-rpf image that idles, for running programs/pod-client.mjs in it. */
export async function startNodePod(namespace: string, name: string): Promise<void> {
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace },
    spec: {
      terminationGracePeriodSeconds: 1,
      containers: [
        { name: 'main', image: await kubeRpfImage(), imagePullPolicy: 'Never', command: ['/usr/local/bin/node', '-e', 'setInterval(() => {}, 1 << 30)'] },
      ],
    },
  };
  await kubectlOk(['apply', '-f', '-'], JSON.stringify(pod));
  await kubectlOk(['wait', '--for=condition=Ready', `pod/${name}`, '-n', namespace, '--timeout=90s']);
}

/** One connection's result from programs/pod-client.mjs. */
export interface PodConnectionResult {
  index: number;
  sent?: string;
  received?: string;
  receivedBytes?: number;
  ms?: number;
  error?: string;
}

/** Runs programs/pod-client.mjs in a pod: `connections` connections to 127.0.0.1:port (or `host`), `bytes` each. */
export async function runPodClient(
  namespace: string,
  pod: string,
  options: { port: number; connections: number; bytes: number; host?: string; stall?: boolean; timeoutMs?: number },
): Promise<PodConnectionResult[]> {
  const script = await readFile(path.join(programs, 'pod-client.mjs'), 'utf8');
  const args = [options.host ?? '127.0.0.1', String(options.port), String(options.connections), String(options.bytes)];
  if (options.stall) args.push('stall');
  const result = await kubectl(
    ['exec', '-n', namespace, pod, '--', '/usr/local/bin/node', '--input-type=module', '-e', script, ...args],
    { timeoutMs: options.timeoutMs ?? 120_000 },
  );
  if (result.code !== 0) throw new Error(`pod client failed (${result.code}): ${result.stderr}`);
  return result.stdout.trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as PodConnectionResult);
}
