// Admission for tunnels and sandboxed pods (issue 11, docs/admission.md),
// against the real cluster:
// - a real validating webhook, served by this test on this machine's address
//   that the pods reach (kube-apiserver's, on the node's link), registered with
//   a ValidatingWebhookConfiguration for CONNECT on pods/reverseportforward and
//   scoped by namespaceSelector to this test's namespace, denies one pod with
//   its own message (kubectl rpf exits 1 with it) and allows another (bytes
//   flow); it receives the AdmissionReview kube-apiserver would send;
// - a webhook that cannot be reached fails closed under failurePolicy Fail;
// - a pod whose RuntimeClass handler is runsc (gVisor) is refused with the
//   sandbox message, although it never runs here (no such handler in this
//   containerd): the check comes before the pod's phase.
// Every cluster-scoped object is uniquely named and deleted in teardown.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { createNamespace, deleteNamespace, kubectl, kubectlOk, startTestbox, waitFor } from './helpers/cluster.ts';
import { startHttpServer } from './helpers/local-server.ts';
import { apiserverAccess, tunnelRefusal } from './helpers/raw-tunnel.ts';
import { spawnRpf, startRpf } from './helpers/rpf.ts';
import { createUser } from './helpers/users.ts';
import type { ClusterUser } from './helpers/users.ts';
import { startWebhookServer } from './helpers/webhook-server.ts';
import type { WebhookServer } from './helpers/webhook-server.ts';

const nonce = Math.random().toString(36).slice(2, 8);
const WEBHOOK = 'tunnels.e2e.kube-rpf.dev';
const DENIAL = `tunnels into pod "denied" are against the test policy ${nonce}`;

let namespace: string;
let user: ClusterUser;
let hook: WebhookServer;

/** A ValidatingWebhookConfiguration for CONNECT on pods/reverseportforward, only in `ns`. */
function configuration(name: string, url: string, caPem: string, ns: string, failurePolicy: 'Fail' | 'Ignore'): string {
  return JSON.stringify({
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: { name },
    webhooks: [
      {
        name: WEBHOOK,
        clientConfig: { url, caBundle: Buffer.from(caPem).toString('base64') },
        rules: [{ operations: ['CONNECT'], apiGroups: ['rpf.kube-rpf.dev'], apiVersions: ['v1alpha1'], resources: ['pods/reverseportforward'], scope: 'Namespaced' }],
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } },
        failurePolicy,
        sideEffects: 'None',
        admissionReviewVersions: ['v1'],
        timeoutSeconds: 5,
      },
    ],
  });
}

test.before(async () => {
  namespace = await createNamespace('rpf-admission');
  await Promise.all([startTestbox(namespace, 'denied'), startTestbox(namespace, 'allowed')]);
  user = await createUser(`adm-${nonce}`, ['rpf-e2e-testers']);
  await kubectlOk(['create', 'rolebinding', `${user.name}-view`, '-n', namespace, '--clusterrole=view', `--user=${user.name}`]);
  await kubectlOk(['create', 'rolebinding', `${user.name}-rpf`, '-n', namespace, '--clusterrole=kube-rpf-user', `--user=${user.name}`]);
  // kube-apiserver's address on the node's link is this machine's as the pods see it.
  const { host } = await apiserverAccess();
  hook = await startWebhookServer(host, (request) =>
    request.name === 'denied' ? { allowed: false, status: { code: 403, message: DENIAL } } : { allowed: true },
  );
});

test.after.always(async () => {
  await kubectl(['delete', 'validatingwebhookconfiguration', `rpf-e2e-${nonce}`, `rpf-e2e-down-${nonce}`, '--ignore-not-found']);
  await kubectl(['delete', 'runtimeclass', `rpf-e2e-gvisor-${nonce}`, '--ignore-not-found']);
  if (namespace) await deleteNamespace(namespace);
  await hook?.close();
});

/** The one `error:` line of a failure (progress notes may precede it), and it is last. */
function oneLine(t: ExecutionContext, stderr: string): string {
  const lines = stderr.trim().split('\n');
  const errors = lines.filter((line) => line.startsWith('error: '));
  t.is(errors.length, 1, `expected one error line on stderr, got: ${stderr}`);
  t.is(errors[0], lines[lines.length - 1], 'the error line is the last one');
  return errors[0] ?? '';
}

/**
 * Runs `kubectl rpf` expecting a refusal. Each rpf-server replica learns of a
 * new configuration from its watch, moments after it is stored: a run that a
 * replica which has not heard yet lets through is stopped and tried again,
 * until `deadlineMs`.
 */
async function refusedRun(args: string[], kubeconfig: string, deadlineMs = 60_000): Promise<{ code: number | null; stderr: string }> {
  return waitFor(
    `kubectl rpf ${args.join(' ')} to be refused`,
    async () => {
      const rpf = spawnRpf(args, kubeconfig);
      const end = Date.now() + 30_000;
      while (rpf.child.exitCode === null && rpf.forwarding.length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
      if (rpf.child.exitCode === null) {
        await rpf.stop();
        return undefined;
      }
      const { code } = await rpf.exited;
      return { code, stderr: rpf.stderr() };
    },
    deadlineMs,
  );
}

test.serial('a validating webhook denies one pod with its own message and allows another, and hears what kube-apiserver would tell it', async (t) => {
  await kubectlOk(['apply', '-f', '-'], configuration(`rpf-e2e-${nonce}`, hook.url, hook.caPem, namespace, 'Fail'));

  // KEP-5695 and kube-apiserver word denials this way; the text is the user's contract.
  const denied = await refusedRun(['-n', namespace, 'denied', '8080:3000'], user.kubeconfig);
  t.is(denied.code, 1);
  t.is(oneLine(t, denied.stderr), `error: pods.rpf.kube-rpf.dev "denied" is forbidden: admission webhook "${WEBHOOK}" denied the request: ${DENIAL}`);

  const review = hook.reviews.find((r) => r.name === 'denied');
  t.like(review, {
    kind: { group: 'rpf.kube-rpf.dev', version: 'v1alpha1', kind: 'ReversePortForwardOptions' },
    requestKind: { group: 'rpf.kube-rpf.dev', version: 'v1alpha1', kind: 'ReversePortForwardOptions' },
    resource: { group: 'rpf.kube-rpf.dev', version: 'v1alpha1', resource: 'pods' },
    subResource: 'reverseportforward',
    operation: 'CONNECT',
    namespace,
    dryRun: false,
    oldObject: null,
    options: null,
    object: { apiVersion: 'rpf.kube-rpf.dev/v1alpha1', kind: 'ReversePortForwardOptions', ports: [8080], addresses: ['127.0.0.1', '::1'] },
  });
  t.is(review?.userInfo.username, user.name);
  t.true(review?.userInfo.groups?.includes('rpf-e2e-testers'), JSON.stringify(review?.userInfo));
  t.true(review?.userInfo.groups?.includes('system:authenticated'), JSON.stringify(review?.userInfo));
  // The deadline travels as kube-apiserver sends it.
  t.true(hook.paths.every((p) => p === '/validate?timeout=5s'), hook.paths.join(' '));

  const web = await startHttpServer(`allowed by the webhook ${nonce}\n`);
  const rpf = await startRpf(['-n', namespace, 'allowed', `8081:${web.port}`], 1, user.kubeconfig);
  try {
    const got = await kubectl(['exec', '-n', namespace, 'allowed', '--', 'wget', '-qO-', 'http://127.0.0.1:8081/'], { timeoutMs: 20_000 });
    t.is(got.stdout, `allowed by the webhook ${nonce}\n`, `${got.stderr}; kubectl rpf printed: ${rpf.stderr()}`);
    t.like(
      hook.reviews.find((r) => r.name === 'allowed'),
      { operation: 'CONNECT', namespace, object: { ports: [8081] } },
    );
  } finally {
    await rpf.stop();
    await web.close();
  }
  await kubectlOk(['delete', 'validatingwebhookconfiguration', `rpf-e2e-${nonce}`]);
});

test.serial('a webhook that cannot be reached fails closed under failurePolicy Fail, naming the webhook', async (t) => {
  // A port nothing listens on, on the same address.
  const gone = await startWebhookServer((await apiserverAccess()).host, () => ({ allowed: true }));
  await gone.close();
  await kubectlOk(['apply', '-f', '-'], configuration(`rpf-e2e-down-${nonce}`, gone.url, gone.caPem, namespace, 'Fail'));
  try {
    const refused = await refusedRun(['-n', namespace, 'allowed', '8082:3000'], user.kubeconfig);
    t.is(refused.code, 1);
    const line = oneLine(t, refused.stderr);
    t.true(line.startsWith(`error: Internal error occurred: failed calling webhook "${WEBHOOK}": failed to call webhook: Post "${gone.url}?timeout=5s": `), line);
  } finally {
    await kubectlOk(['delete', 'validatingwebhookconfiguration', `rpf-e2e-down-${nonce}`]);
  }
});

test.serial('a pod whose RuntimeClass runs it in a VM sandbox (handler runsc) is refused with 400 and why, though it never starts here', async (t) => {
  const runtimeClass = `rpf-e2e-gvisor-${nonce}`;
  await kubectlOk(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'node.k8s.io/v1', kind: 'RuntimeClass', metadata: { name: runtimeClass }, handler: 'runsc' }));
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'sandboxed', namespace },
    spec: {
      runtimeClassName: runtimeClass,
      terminationGracePeriodSeconds: 1,
      containers: [{ name: 'main', image: 'localhost/kube-rpf/testbox:v1', imagePullPolicy: 'Never', command: ['sleep', '3600'] }],
    },
  };
  await kubectlOk(['apply', '-f', '-'], JSON.stringify(pod));
  // Scheduled, but this containerd has no runsc handler: it stays Pending.
  await waitFor('the pod to be scheduled', async () => ((await kubectlOk(['get', 'pod', 'sandboxed', '-n', namespace, '-o', 'jsonpath={.spec.nodeName}'])).trim() !== '' ? true : undefined));
  // kubectl rpf waits for a Running pod before it asks, so the request goes through kube-apiserver by hand.
  const refusal = await tunnelRefusal(namespace, 'sandboxed', 'ports=8080');
  t.is(refusal.status, 400, refusal.body);
  const status = JSON.parse(refusal.body) as { kind: string; reason: string; code: number; message: string };
  t.like(status, { kind: 'Status', reason: 'BadRequest', code: 400 });
  // The message is the user's contract: it names the pod, the RuntimeClass and the handler, and why.
  t.is(
    status.message,
    `pod ${namespace}/sandboxed runs in a VM sandbox (RuntimeClass "${runtimeClass}", handler "runsc"): its processes use the sandbox's own network stack, which rpf-agent cannot enter, so a listener would be unreachable from the pod (the server policy treats handlers matching "runsc" as sandboxed)`,
  );
  t.is((await kubectlOk(['get', 'pod', 'sandboxed', '-n', namespace, '-o', 'jsonpath={.status.phase}'])).trim(), 'Pending');
});
