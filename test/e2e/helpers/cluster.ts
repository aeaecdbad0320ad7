// Access to the local cluster that test/cluster brings up: paths, kubectl as
// the admin or as another user, and waiting for conditions.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { promisify } from 'node:util';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const execFileAsync = promisify(execFile);

/** The repository's root folder. */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
/** Everything the local cluster keeps: binaries, certificates, logs, audit log. */
export const clusterDir = process.env.KUBE_RPF_CLUSTER_DIR ?? path.join(repoRoot, '.cluster');
/** The cluster administrator's kubeconfig (system:masters). */
export const adminKubeconfig = path.join(clusterDir, 'admin.kubeconfig');
/** kube-apiserver's audit log (Metadata level). */
export const auditLogPath = path.join(clusterDir, 'audit.log');
/** The testbox image every end-to-end pod runs. */
export const testboxImage = 'localhost/kube-rpf/testbox:v1';

/** What a finished command printed and how it ended. */
export interface CommandResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** Runs kubectl with the given kubeconfig (default: the admin's); never throws on a non-zero exit. */
export async function kubectl(args: string[], options: { kubeconfig?: string; input?: string; timeoutMs?: number } = {}): Promise<CommandResult> {
  const kubeconfig = options.kubeconfig ?? adminKubeconfig;
  const child = execFile('kubectl', ['--kubeconfig', kubeconfig, ...args], {
    timeout: options.timeoutMs ?? 60_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (options.input !== undefined) child.stdin?.end(options.input);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'close')) as [number | null];
  return { stdout, stderr, code: code ?? -1 };
}

/** Runs kubectl as the admin and fails with its stderr if it exits non-zero. */
export async function kubectlOk(args: string[], input?: string): Promise<string> {
  const result = await kubectl(args, input === undefined ? {} : { input });
  if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${result.code}): ${result.stderr.trim()}`);
  return result.stdout;
}

/** Runs a program and resolves with its output; rejects on a non-zero exit. */
export async function run(file: string, args: string[]): Promise<string> {
  const { stdout } = await execFileAsync(file, args, { maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Creates a namespace with a random name and returns it; delete it with deleteNamespace. */
export async function createNamespace(prefix: string): Promise<string> {
  const name = `${prefix}-${Math.random().toString(36).slice(2, 8)}`;
  await kubectlOk(['create', 'namespace', name]);
  await waitFor(`ServiceAccount default in ${name}`, async () =>
    (await kubectl(['get', 'serviceaccount', 'default', '-n', name])).code === 0 ? true : undefined,
  );
  return name;
}

/** The names of the cluster's nodes, sorted. */
export async function nodeNames(): Promise<string[]> {
  return (await kubectlOk(['get', 'nodes', '-o', 'jsonpath={.items[*].metadata.name}'])).trim().split(/\s+/).filter(Boolean).sort();
}

/** Deletes a namespace without waiting for its pods to finish terminating. */
export async function deleteNamespace(name: string): Promise<void> {
  await kubectl(['delete', 'namespace', name, '--wait=false']);
}

/** Starts a testbox pod running `command` (sh -c) and waits until it is Running; on `nodeName` when given (through the scheduler). */
export async function startTestbox(namespace: string, name: string, command = 'sleep 3600', nodeName?: string): Promise<void> {
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels: { app: name } },
    spec: {
      ...(nodeName === undefined ? {} : { nodeSelector: { 'kubernetes.io/hostname': nodeName } }),
      terminationGracePeriodSeconds: 1,
      containers: [{ name: 'main', image: testboxImage, imagePullPolicy: 'Never', command: ['/bin/sh', '-c', command] }],
    },
  };
  await kubectlOk(['apply', '-f', '-'], JSON.stringify(pod));
  await kubectlOk(['wait', '--for=condition=Ready', `pod/${name}`, '-n', namespace, '--timeout=90s']);
}

/** Starts a long-running process and resolves once a line of its stdout matches `pattern`. */
export async function startUntilLine(file: string, args: string[], pattern: RegExp, timeoutMs = 30_000): Promise<{ child: ChildProcess; match: RegExpMatchArray }> {
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let seen = '';
  const match = await new Promise<RegExpMatchArray>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no line matching ${pattern} within ${timeoutMs} ms; output: ${seen}`)), timeoutMs);
    const onData = (data: Buffer) => {
      seen += data.toString();
      const m = seen.match(pattern);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (d: Buffer) => (seen += d.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${file} exited with ${code} before printing ${pattern}; output: ${seen}`));
    });
  });
  return { child, match };
}
