// The local cluster itself (test/cluster): a real node, real pods, real RBAC
// and a real audit log, which every kube-rpf end-to-end test relies on.
import test from 'ava';
import { auditEvents } from './helpers/audit.ts';
import { adminKubeconfig, createNamespace, deleteNamespace, kubectl, kubectlOk, startTestbox, startUntilLine, waitFor } from './helpers/cluster.ts';
import { createUser } from './helpers/users.ts';

let namespace: string;

test.before(async () => {
  namespace = await createNamespace('cluster');
});

test.after.always(async () => {
  if (namespace) await deleteNamespace(namespace);
});

test('every node is Ready and runs the pinned Kubernetes version: kube-rpf-node, and kube-rpf-node2 unless the cluster was started with KUBE_RPF_NODES=1', async (t) => {
  const nodes = JSON.parse(await kubectlOk(['get', 'nodes', '-o', 'json'])).items as { metadata: { name: string }; status: any }[];
  const expected = ['kube-rpf-node', 'kube-rpf-node2', 'kube-rpf-node3', 'kube-rpf-node4'].slice(0, Number(process.env.KUBE_RPF_NODES ?? nodes.length));
  t.deepEqual(nodes.map((n) => n.metadata.name).sort(), expected);
  for (const node of nodes) {
    const ready = node.status.conditions.find((c: { type: string }) => c.type === 'Ready');
    t.is(ready.status, 'True', node.metadata.name);
    t.is(node.status.nodeInfo.kubeletVersion, 'v1.34.4');
    t.regex(node.status.nodeInfo.containerRuntimeVersion, /^containerd:\/\/1\./);
  }
});

test('a testbox pod runs and kubectl exec reaches into it', async (t) => {
  await startTestbox(namespace, 'exec-target');
  const out = await kubectlOk(['exec', '-n', namespace, 'exec-target', '--', 'sh', '-c', 'echo hello from $(hostname)']);
  t.is(out.trim(), 'hello from exec-target');
});

test('kubectl port-forward carries HTTP to a server in the pod', async (t) => {
  await startTestbox(namespace, 'web', 'echo "port-forward works" > /www/index.html; exec httpd -f -p 8080 -h /www');
  const { child, match } = await startUntilLine(
    'kubectl',
    ['--kubeconfig', adminKubeconfig, 'port-forward', '-n', namespace, 'pod/web', ':8080'],
    /Forwarding from 127\.0\.0\.1:(\d+) -> 8080/,
  );
  try {
    const response = await fetch(`http://127.0.0.1:${match[1]}/`);
    t.is(response.status, 200);
    t.is((await response.text()).trim(), 'port-forward works');
  } finally {
    child.kill('SIGINT');
  }
});

test('pods reach kube-apiserver through the kubernetes Service', async (t) => {
  await startTestbox(namespace, 'svc-client');
  const clusterIP = (await kubectlOk(['get', 'service', 'kubernetes', '-n', 'default', '-o', 'jsonpath={.spec.clusterIP}'])).trim();
  // busybox's TLS client cannot talk to kube-apiserver, so speak plain HTTP to
  // its TLS port: Go's TLS server answers that with a 400 of its own, which
  // proves the Service, kube-proxy's rules and the route all work.
  const result = await kubectl([
    'exec', '-n', namespace, 'svc-client', '--', 'sh', '-c', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 ${clusterIP} 443`,
  ]);
  t.is(result.code, 0, result.stderr);
  t.regex(result.stdout, /Client sent an HTTP request to an HTTPS server/);
});

test('RBAC is enforced: a user without bindings is Forbidden, with a RoleBinding allowed', async (t) => {
  const user = await createUser(`rbac-tester-${Math.random().toString(36).slice(2, 8)}`);
  const denied = await kubectl(['get', 'pods', '-n', namespace], { kubeconfig: user.kubeconfig });
  t.not(denied.code, 0);
  t.regex(denied.stderr, /Forbidden/);
  t.regex(denied.stderr, new RegExp(`User "${user.name}" cannot list resource "pods"`));

  await kubectlOk(['create', 'rolebinding', 'viewer', '-n', namespace, '--clusterrole=view', `--user=${user.name}`]);
  const allowed = await waitFor('the RoleBinding to take effect', async () => {
    const result = await kubectl(['get', 'pods', '-n', namespace, '-o', 'name'], { kubeconfig: user.kubeconfig });
    return result.code === 0 ? result : undefined;
  });
  t.is(allowed.code, 0);
});

test('the audit log records each request with its user and outcome', async (t) => {
  const user = await createUser(`audit-tester-${Math.random().toString(36).slice(2, 8)}`);
  await kubectl(['get', 'configmaps', '-n', namespace], { kubeconfig: user.kubeconfig });
  const events = await waitFor('the audit event', async () => {
    const found = await auditEvents(
      (e) => e.user.username === user.name && e.stage === 'ResponseComplete' && e.objectRef?.resource === 'configmaps',
    );
    return found.length > 0 ? found : undefined;
  });
  const event = events[0]!;
  t.is(event.verb, 'list');
  t.is(event.objectRef?.resource, 'configmaps');
  t.is(event.objectRef?.namespace, namespace);
  t.is(event.responseStatus?.code, 403);
});
