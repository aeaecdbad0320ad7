// The API face of kube-rpf: discovery, the audit trail, the session objects
// and the metrics, all through the real kube-apiserver.
import test from 'ava';
import { auditEvents } from './helpers/audit.ts';
import { createNamespace, deleteNamespace, kubectl, kubectlOk, startTestbox, waitFor } from './helpers/cluster.ts';
import { agentPodFor } from './helpers/kube-rpf-pods.ts';
import { startHttpServer } from './helpers/local-server.ts';
import { startRpf } from './helpers/rpf.ts';
import { createUser } from './helpers/users.ts';

let namespace: string;

test.before(async () => {
  namespace = await createNamespace('rpf-api');
  await startTestbox(namespace, 'app');
});

test.after.always(async () => {
  if (namespace) await deleteNamespace(namespace);
});

test('kubectl get --raw lists the pods/reverseportforward subresource', async (t) => {
  const list = JSON.parse(await kubectlOk(['get', '--raw', '/apis/rpf.kube-rpf.dev/v1alpha1']));
  t.is(list.groupVersion, 'rpf.kube-rpf.dev/v1alpha1');
  const sub = list.resources.find((r: { name: string }) => r.name === 'pods/reverseportforward');
  t.truthy(sub);
  t.true(sub.namespaced);
  const available = await kubectlOk(['get', 'apiservice', 'v1alpha1.rpf.kube-rpf.dev', '-o', 'jsonpath={.status.conditions[?(@.type=="Available")].status}']);
  t.is(available, 'True');
});

test.serial('the audit log records the session with user, verb, resource, subresource and group', async (t) => {
  const user = await createUser(`audited-${Math.random().toString(36).slice(2, 7)}`);
  await kubectlOk(['create', 'rolebinding', `${user.name}-view`, '-n', namespace, '--clusterrole=view', `--user=${user.name}`]);
  await kubectlOk(['create', 'rolebinding', `${user.name}-rpf`, '-n', namespace, '--clusterrole=kube-rpf-user', `--user=${user.name}`]);
  const rpf = await startRpf(['-n', namespace, 'app', '8686:3000'], 2, user.kubeconfig);
  await rpf.stop();
  const events = await waitFor('the session\'s audit event', async () => {
    const found = await auditEvents((e) => e.user.username === user.name && e.objectRef?.subresource === 'reverseportforward' && e.stage === 'ResponseComplete');
    return found.length > 0 ? found : undefined;
  });
  const event = events[0]!;
  t.is(event.verb, 'get');
  t.is(event.objectRef?.resource, 'pods');
  t.is(event.objectRef?.apiGroup, 'rpf.kube-rpf.dev');
  t.is(event.objectRef?.namespace, namespace);
  t.is(event.objectRef?.name, 'app');
  t.is(event.responseStatus?.code, 101);
});

test.serial('kubectl get reverseportforwards lists a live session and kubectl delete ends it', async (t) => {
  const web = await startHttpServer('listed\n');
  const rpf = await startRpf(['-n', namespace, 'app', `8787:${web.port}`], 2);
  try {
    const table = await waitFor('the session in the list', async () => {
      const out = await kubectlOk(['get', 'reverseportforwards', '-n', namespace]);
      return out.includes('app') ? out : undefined;
    });
    t.regex(table, /^NAME\s+/);
    const name = (await kubectlOk(['get', 'reverseportforwards', '-n', namespace, '-o', 'jsonpath={.items[0].metadata.name}'])).trim();
    t.truthy(name);
    await kubectlOk(['delete', 'reverseportforward', '-n', namespace, name]);
    const exit = await rpf.exited;
    t.not(exit.code, 0);
    t.regex(rpf.stderr(), /deleted/i);
  } finally {
    await rpf.stop();
    await web.close();
  }
});

/** The metrics of the agent that serves pod `app`: the one on its node. */
async function scrapeAgent(): Promise<string> {
  const { ip } = await agentPodFor(namespace, 'app');
  const response = await fetch(`http://${ip}:9465/metrics`);
  return response.text();
}

function metric(text: string, name: string, labels = ''): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `) || (labels === '' && l.startsWith(`${name} `)));
  return line ? Number(line.split(' ').pop()) : 0;
}

test.serial('the agent\'s metrics count sessions, connections and bytes', async (t) => {
  const before = await scrapeAgent();
  const web = await startHttpServer('x'.repeat(10_000));
  const rpf = await startRpf(['-n', namespace, 'app', `8888:${web.port}`], 2);
  try {
    for (let i = 0; i < 3; i++) {
      const result = await kubectl(['exec', '-n', namespace, 'app', '--', 'wget', '-qO-', 'http://127.0.0.1:8888/']);
      t.is(result.stdout.length, 10_000);
    }
    const during = await scrapeAgent();
    t.true(metric(during, 'rpf_agent_sessions_active') >= 1);
    t.true(metric(during, 'rpf_agent_listeners_active') >= 2);
    t.true(metric(during, 'rpf_agent_sessions_total', 'outcome="opened"') > metric(before, 'rpf_agent_sessions_total', 'outcome="opened"'));
    t.true(metric(during, 'rpf_agent_connections_total', 'outcome="completed"') >= metric(before, 'rpf_agent_connections_total', 'outcome="completed"') + 3);
    t.true(metric(during, 'rpf_agent_bytes_total', 'direction="to_pod"') >= metric(before, 'rpf_agent_bytes_total', 'direction="to_pod"') + 30_000);
  } finally {
    await rpf.stop();
    await web.close();
  }
});
