// Sessions that survive (issue 11): kubectl rpf reconnects when the agent is
// replaced under it and reopens the same listeners, the same pod port for a
// fixed spec and for a 0:LOCAL one; a deploy/NAME target follows a rollout to
// the new pod; a workload that is gone ends it with one error line.
import test from 'ava';
import { createNamespace, deleteNamespace, kubectl, kubectlOk, startTestbox, testboxImage, waitFor } from './helpers/cluster.ts';
import { nodeOf } from './helpers/kube-rpf-pods.ts';
import { startHttpServer } from './helpers/local-server.ts';
import type { ForwardingLine, RpfProcess } from './helpers/rpf.ts';
import { startRpf } from './helpers/rpf.ts';

let namespace: string;

test.before(async () => {
  namespace = await createNamespace('rpf-reconnect');
  await startTestbox(namespace, 'app');
});

test.after.always(async () => {
  if (namespace) await deleteNamespace(namespace);
});

/** Why the last fetchInPod failed, for assertion messages. */
let lastFetchError = '';

/** What `wget http://127.0.0.1:PORT/` in the pod gets, or undefined when it fails. */
async function fetchInPod(pod: string, port: number): Promise<string | undefined> {
  const result = await kubectl(['exec', '-n', namespace, pod, '--', 'wget', '-qO-', `http://127.0.0.1:${port}/`], { timeoutMs: 20_000 });
  if (result.code !== 0) lastFetchError = result.stderr.trim();
  return result.code === 0 ? result.stdout : undefined;
}

const AGENT_PODS = ['get', 'pods', '-n', 'kube-rpf', '-l', 'app.kubernetes.io/name=rpf-agent'];

/** Names of the rpf-agent pods on `node` whose container is ready. */
async function readyAgents(node: string): Promise<string[]> {
  const out = await kubectlOk([...AGENT_PODS, `--field-selector=spec.nodeName=${node}`, '-o', 'jsonpath={range .items[*]}{.metadata.name}={.status.containerStatuses[0].ready}{" "}{end}']);
  return out.trim().split(' ').filter((p) => p.endsWith('=true')).map((p) => p.split('=')[0]!);
}

/** The Forwarding lines printed after the first `skip` ones. */
function linesAfter(rpf: RpfProcess, skip: number): ForwardingLine[] {
  return rpf.forwarding.slice(skip);
}

test.serial('the agent pod force-deleted mid-session: the same pod ports carry again within 40 s, the client never exits', async (t) => {
  const web = await startHttpServer('through the new agent\n');
  t.teardown(() => web.close());
  const rpf = await startRpf(['-n', namespace, 'app', `8686:${web.port}`, `0:${web.port}`], 4);
  t.teardown(async () => {
    await rpf.stop();
  });
  const picked = rpf.forwarding.find((l) => l.remotePort !== 8686)?.remotePort;
  t.truthy(picked, rpf.stdout());
  t.is(await fetchInPod('app', 8686), 'through the new agent\n', `${lastFetchError}; kubectl rpf: ${rpf.stderr()}`);

  // The agent that holds the session: the one on app's node.
  const node = await nodeOf(namespace, 'app');
  const [agent] = await readyAgents(node);
  t.truthy(agent, `an rpf-agent pod is ready on ${node}`);
  // Whatever happens below, later tests need an agent again.
  t.teardown(() => waitFor('a ready rpf-agent pod', async () => ((await readyAgents(node)).some((p) => p !== agent) ? true : undefined), 120_000));
  await kubectlOk(['delete', 'pod', agent!, '-n', 'kube-rpf', '--force', '--grace-period=0']);
  const deleted = Date.now();

  const body = await waitFor('the pod port to carry again', () => fetchInPod('app', 8686), 40_000);
  const elapsed = Date.now() - deleted;
  t.log(`carried again ${elapsed} ms after the agent pod was deleted; kubectl rpf said: ${rpf.stderr().trim()}`);
  t.is(body, 'through the new agent\n');
  t.true(elapsed <= 40_000, `took ${elapsed} ms`);
  t.is(rpf.child.exitCode, null, 'kubectl rpf is still running');

  // It said so: one line for the loss, then the Forwarding lines again, for
  // the same ports (the 0:LOCAL spec got the port the pod gave it before).
  t.regex(rpf.stderr(), /^lost connection to the pod's reverse port-forward: .*; reconnecting$/m);
  await waitFor('the Forwarding lines again', async () => (rpf.forwarding.length >= 8 ? true : undefined), 10_000);
  t.deepEqual(
    linesAfter(rpf, 4).map((l) => l.remotePort).sort(),
    [8686, 8686, picked!, picked!].sort(),
    rpf.stdout(),
  );
  t.is(await fetchInPod('app', picked!), 'through the new agent\n');
  t.false(rpf.stderr().includes('error:'), rpf.stderr());
  t.is((await rpf.stop()).code, 0, 'Ctrl-C still ends it with exit 0');
});

test.serial('rpf-server replaced mid-session (its pod deleted): the client rides out the 503s and the pod port carries again', async (t) => {
  const web = await startHttpServer('through the new rpf-server\n');
  t.teardown(() => web.close());
  const rpf = await startRpf(['-n', namespace, 'app', `8989:${web.port}`], 2);
  t.teardown(async () => {
    await rpf.stop();
  });
  t.is(await fetchInPod('app', 8989), 'through the new rpf-server\n', `${lastFetchError}; kubectl rpf: ${rpf.stderr()}`);
  const servers = (await kubectlOk(['get', 'pods', '-n', 'kube-rpf', '-l', 'app.kubernetes.io/name=rpf-server', '-o', 'jsonpath={.items[*].metadata.name}'])).trim().split(' ');
  // Later tests need rpf-server and its APIService back, whatever happens here.
  t.teardown(async () => {
    await kubectlOk(['rollout', 'status', 'deployment/rpf-server', '-n', 'kube-rpf', '--timeout=120s']);
    await kubectlOk(['wait', '--for=condition=Available', 'apiservice/v1alpha1.rpf.kube-rpf.dev', '--timeout=120s']);
  });
  await kubectlOk(['delete', 'pod', '-n', 'kube-rpf', ...servers, '--wait=false']);
  const deleted = Date.now();
  await waitFor('the session to be lost', async () => (/reconnecting$/m.test(rpf.stderr()) ? true : undefined), 60_000);
  const body = await waitFor('the pod port to carry again', async () => (rpf.forwarding.length >= 4 ? fetchInPod('app', 8989) : undefined), 120_000);
  t.log(`carried again ${Date.now() - deleted} ms after rpf-server's pod was deleted; kubectl rpf said: ${rpf.stderr().trim()}`);
  t.is(body, 'through the new rpf-server\n');
  t.is(rpf.child.exitCode, null, 'kubectl rpf is still running');
  t.false(rpf.stderr().includes('error:'), rpf.stderr());
});

/** Exits on SIGTERM at once, as a well-behaved server does. */
const QUICK_EXIT = "trap 'exit 0' TERM; while true; do sleep 1; done";
/** Ignores SIGTERM (a shell as PID 1 has no handler): the pod stays Terminating for its whole grace period. */
const SLOW_EXIT = 'sleep 3600';

/** A deployment of one testbox pod running `command`; resolves once it is available. */
async function startDeployment(name: string, command: string): Promise<void> {
  const deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [{ name: 'main', image: testboxImage, imagePullPolicy: 'Never', command: ['/bin/sh', '-c', command] }],
        },
      },
    },
  };
  await kubectlOk(['apply', '-f', '-'], JSON.stringify(deployment));
  await kubectlOk(['rollout', 'status', `deployment/${name}`, '-n', namespace, '--timeout=90s']);
}

/** The pod name of a Forwarding line (`NS/POD`). */
function podOf(line: ForwardingLine | undefined): string {
  return line?.pod.split('/')[1] ?? '';
}

test.serial('deploy/NAME follows a rollout restart: the new pod reaches this machine within 60 s, while the old one is still terminating', async (t) => {
  // The old pod ignores SIGTERM and so stays Terminating for 30 s: the session
  // must move as soon as the new pod is Ready, not when the old one is gone.
  await startDeployment('web', SLOW_EXIT);
  const web = await startHttpServer('hello from the new pod\n');
  t.teardown(() => web.close());
  const rpf = await startRpf(['-n', namespace, 'deploy/web', `8787:${web.port}`], 2);
  t.teardown(async () => {
    await rpf.stop();
  });
  const before = podOf(rpf.forwarding[0]);
  t.is(await fetchInPod(before, 8787), 'hello from the new pod\n', `${lastFetchError}; kubectl rpf: ${rpf.stderr()}`);

  await kubectlOk(['rollout', 'restart', 'deployment/web', '-n', namespace]);
  const restarted = Date.now();
  const after = await waitFor(
    'Forwarding lines for a new pod',
    async () => {
      const moved = rpf.forwarding.find((l) => podOf(l) !== before);
      return moved === undefined ? undefined : podOf(moved);
    },
    60_000,
  );
  const body = await waitFor('the new pod to reach this machine', () => fetchInPod(after, 8787), Math.max(1, 60_000 - (Date.now() - restarted)));
  const elapsed = Date.now() - restarted;
  t.log(`pod ${before} -> ${after}: carried ${elapsed} ms after the rollout restart; kubectl rpf said: ${rpf.stderr().trim()}`);
  t.is(body, 'hello from the new pod\n');
  t.true(elapsed <= 60_000, `took ${elapsed} ms`);
  t.is(rpf.child.exitCode, null, 'kubectl rpf is still running');
  t.regex(rpf.stderr(), new RegExp(`^pod ${namespace}/${before} is terminating; following deployment/web to pod ${namespace}/${after}$`, 'm'));
  const old = await kubectl(['get', 'pod', before, '-n', namespace, '-o', 'jsonpath={.metadata.deletionTimestamp}']);
  t.true(old.code === 0 && old.stdout !== '', `the old pod ${before} is still terminating: the session moved before it was gone (${old.stdout}${old.stderr})`);
  t.false(rpf.stderr().includes('error:'), rpf.stderr());
});

test.serial('a deployment deleted under its session leaves nothing to follow: one error line naming it, exit 1', async (t) => {
  await startDeployment('doomed', QUICK_EXIT);
  const rpf = await startRpf(['-n', namespace, 'deploy/doomed', '8888:1'], 2);
  t.teardown(async () => {
    if (rpf.child.exitCode === null) await rpf.stop();
  });
  await kubectlOk(['delete', 'deployment', 'doomed', '-n', namespace, '--wait=false']);
  const ended = await Promise.race([rpf.exited, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 60_000))]);
  t.truthy(ended, `kubectl rpf still running 60 s after its deployment was deleted: ${rpf.stderr()}`);
  t.is(ended?.code, 1);
  const lines = rpf.stderr().trim().split('\n');
  const errors = lines.filter((l) => l.startsWith('error: '));
  // The one `error:` line is the CLI's contract with its user: its text is asserted.
  t.deepEqual(errors, ['error: deployments.apps "doomed" not found'], rpf.stderr());
  t.is(errors[0], lines[lines.length - 1]);
});
