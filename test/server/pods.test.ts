import test from 'ava';
import { RpfServerError } from '../../server/errors.ts';
import type { ServerErrorCode, StatusReason } from '../../server/errors.ts';
import { findAgentOnNode, listAgents, resolveTargetPod } from '../../server/pods.ts';
import { agentPod, fakeKube, pod } from './helpers/fakes.ts';

const agents = { namespace: 'kube-rpf', selector: 'app.kubernetes.io/name=rpf-agent', port: 8443 };

test('a running pod is returned', async (t) => {
  const kube = fakeKube({ pods: [pod({ name: 'web' })] });
  const got = await resolveTargetPod(kube, 'dev', 'web', false);
  t.is(got.uid, 'uid-web');
});

const refusals: { name: string; pods: ReturnType<typeof pod>[]; allowHost?: boolean; code: ServerErrorCode; status: number; reason: StatusReason }[] = [
  { name: 'a missing pod is 404 NotFound', pods: [], code: 'RPF_ERR_SERVER_POD_NOT_FOUND', status: 404, reason: 'NotFound' },
  { name: 'a pending pod is 400 BadRequest', pods: [pod({ name: 'web', phase: 'Pending', nodeName: '' })], code: 'RPF_ERR_SERVER_POD_NOT_RUNNING', status: 400, reason: 'BadRequest' },
  { name: 'a succeeded pod is 400 BadRequest', pods: [pod({ name: 'web', phase: 'Succeeded' })], code: 'RPF_ERR_SERVER_POD_NOT_RUNNING', status: 400, reason: 'BadRequest' },
  { name: 'a running pod being deleted is 400 BadRequest', pods: [pod({ name: 'web', terminating: true })], code: 'RPF_ERR_SERVER_POD_TERMINATING', status: 400, reason: 'BadRequest' },
  {
    name: 'a hostNetwork pod being deleted is refused as terminating',
    pods: [pod({ name: 'web', terminating: true, hostNetwork: true })],
    allowHost: true,
    code: 'RPF_ERR_SERVER_POD_TERMINATING',
    status: 400,
    reason: 'BadRequest',
  },
  { name: 'a hostNetwork pod is 403 Forbidden by default', pods: [pod({ name: 'web', hostNetwork: true })], code: 'RPF_ERR_SERVER_HOST_NETWORK_FORBIDDEN', status: 403, reason: 'Forbidden' },
];

for (const c of refusals) {
  test(`pod checks refuse: ${c.name}`, async (t) => {
    const err = await t.throwsAsync(resolveTargetPod(fakeKube({ pods: c.pods }), 'dev', 'web', c.allowHost ?? false), { instanceOf: RpfServerError });
    t.is(err?.code, c.code);
    t.is(err?.status, c.status);
    t.is(err?.reason, c.reason);
    t.is(err?.details?.name, 'web');
    t.is(err?.details?.kind, 'pods');
  });
}

test('a hostNetwork pod is accepted when the policy allows it', async (t) => {
  await t.notThrowsAsync(resolveTargetPod(fakeKube({ pods: [pod({ name: 'web', hostNetwork: true })] }), 'dev', 'web', true));
});

test('a kube-apiserver failure while reading the pod is an internal error', async (t) => {
  const kube = fakeKube();
  kube.failWith = new Error('forbidden: cannot get pods');
  const err = await t.throwsAsync(resolveTargetPod(kube, 'dev', 'web', false), { instanceOf: RpfServerError });
  t.is(err?.code, 'RPF_ERR_SERVER_KUBE_API');
  t.is(err?.status, 500);
});

test('the agent is found by namespace, label selector and a spec.nodeName field selector', async (t) => {
  const kube = fakeKube({ pods: [agentPod('node-b', '10.1.0.2'), agentPod('node-a', '10.1.0.1')] });
  const agent = await findAgentOnNode(kube, agents, 'node-a');
  t.deepEqual(agent, { host: '10.1.0.1', port: 8443, nodeName: 'node-a', podName: 'rpf-agent-node-a' });
  t.deepEqual(kube.listCalls, [{ namespace: 'kube-rpf', labelSelector: 'app.kubernetes.io/name=rpf-agent', fieldSelector: 'spec.nodeName=node-a' }]);
});

const noAgent: { name: string; pods: ReturnType<typeof pod>[] }[] = [
  { name: 'no agent pod on the node', pods: [agentPod('node-b', '10.1.0.2')] },
  { name: 'an agent that is not Ready', pods: [agentPod('node-a', '10.1.0.1', { ready: false })] },
  { name: 'an agent that is not Running', pods: [agentPod('node-a', '10.1.0.1', { phase: 'Pending' })] },
  { name: 'an agent without an IP', pods: [agentPod('node-a', '')] },
  { name: 'an agent being deleted', pods: [agentPod('node-a', '10.1.0.1', { terminating: true })] },
];

for (const c of noAgent) {
  test(`no usable agent is 503 ServiceUnavailable: ${c.name}`, async (t) => {
    const err = await t.throwsAsync(findAgentOnNode(fakeKube({ pods: c.pods }), agents, 'node-a'), { instanceOf: RpfServerError });
    t.is(err?.code, 'RPF_ERR_SERVER_NO_AGENT');
    t.is(err?.status, 503);
    t.is(err?.reason, 'ServiceUnavailable');
  });
}

test('a ready agent is picked over a terminating one on the same node', async (t) => {
  const kube = fakeKube({ pods: [agentPod('node-a', '10.1.0.9', { terminating: true, name: 'old' }), agentPod('node-a', '10.1.0.1')] });
  t.is((await findAgentOnNode(kube, agents, 'node-a')).host, '10.1.0.1');
});

test('every ready agent is listed for session listing', async (t) => {
  const kube = fakeKube({ pods: [agentPod('node-a', '10.1.0.1'), agentPod('node-b', '10.1.0.2', { ready: false }), agentPod('node-c', '10.1.0.3')] });
  t.deepEqual((await listAgents(kube, agents)).ready.map((a) => a.nodeName), ['node-a', 'node-c']);
});

test('the census names each node whose agent pod is not Ready, once, and not a node where another agent pod is Ready or a pod not yet scheduled', async (t) => {
  const kube = fakeKube({
    pods: [
      agentPod('node-a', '10.1.0.1'),
      agentPod('node-a', '10.1.0.7', { name: 'old-a', terminating: true }),
      agentPod('node-b', '10.1.0.2', { ready: false }),
      agentPod('node-b', '', { name: 'second-b', phase: 'Pending' }),
      agentPod('node-c', '', { phase: 'Pending' }),
      agentPod('', '', { name: 'unscheduled', phase: 'Pending' }),
    ],
  });
  const census = await listAgents(kube, agents);
  t.deepEqual(census.ready.map((a) => a.podName), ['rpf-agent-node-a']);
  t.deepEqual(census.unready, [
    { nodeName: 'node-b', podName: 'rpf-agent-node-b' },
    { nodeName: 'node-c', podName: 'rpf-agent-node-c' },
  ]);
});
