import test from 'ava';
import { AgentDirectory } from '../../server/agent-directory.ts';
import type { AgentPodSource } from '../../server/agent-directory.ts';
import type { PodInfo } from '../../server/kube-client.ts';
import { findAgentOnNode } from '../../server/pods.ts';
import type { KubeClient } from '../../server/kube-client.ts';

function agentPod(name: string, nodeName: string, ready = true): PodInfo {
  return { namespace: 'kube-rpf', name, uid: `uid-${name}`, phase: 'Running', nodeName, hostNetwork: false, podIP: `10.0.0.${name.length}`, ready, terminating: false };
}

/** A source the test drives: it publishes pod sets and breaks on demand. */
function drivenSource() {
  let onPods: ((pods: readonly PodInfo[]) => void) | undefined;
  let onError: ((err: unknown) => void) | undefined;
  const counts = { starts: 0, stops: 0 };
  const source: AgentPodSource = {
    start(pods, error) {
      counts.starts++;
      onPods = pods;
      onError = error;
    },
    stop() {
      counts.stops++;
    },
  };
  return { source, counts, publish: (pods: PodInfo[]) => onPods?.(pods), fail: (err: unknown) => onError?.(err) };
}

/** A kube client that only lists pods, counting the calls. */
function countingKube(pods: PodInfo[]) {
  const calls = { list: 0 };
  const kube = {
    listPods: async (_ns: string, _sel: string, field?: string) => {
      calls.list++;
      const node = field?.replace('spec.nodeName=', '');
      return pods.filter((p) => node === undefined || p.nodeName === node);
    },
  } as unknown as KubeClient;
  return { kube, calls };
}

test("a synced directory answers for a node's agent without an API call", async (t) => {
  const { source, publish } = drivenSource();
  const directory = new AgentDirectory(source);
  directory.start();
  publish([agentPod('rpf-agent-a', 'node-a'), agentPod('rpf-agent-b', 'node-b')]);
  const { kube, calls } = countingKube([]);
  const agent = await findAgentOnNode(kube, { namespace: 'kube-rpf', selector: 'app=rpf-agent', port: 8443, directory }, 'node-b');
  t.is(agent.podName, 'rpf-agent-b');
  t.is(calls.list, 0);
});

test('a miss (no ready agent known on the node, or not synced yet) asks the API, which decides', async (t) => {
  const { source, publish } = drivenSource();
  const directory = new AgentDirectory(source);
  directory.start();
  const { kube, calls } = countingKube([agentPod('rpf-agent-new', 'node-c')]);
  const location = { namespace: 'kube-rpf', selector: 'app=rpf-agent', port: 8443, directory };
  // Not synced: the API.
  t.is((await findAgentOnNode(kube, location, 'node-c')).podName, 'rpf-agent-new');
  t.is(calls.list, 1);
  // Synced, but the node's agent is not Ready there yet (it just started): the API again.
  publish([agentPod('rpf-agent-new', 'node-c', false)]);
  t.is((await findAgentOnNode(kube, location, 'node-c')).podName, 'rpf-agent-new');
  t.is(calls.list, 2);
  // No agent anywhere: the API's answer, a 503.
  await t.throwsAsync(findAgentOnNode(kube, location, 'node-z'), { message: /no rpf-agent is ready on node node-z/ });
});

test('a broken watch forgets what it knew and is started again after the delay', async (t) => {
  const { source, publish, fail, counts } = drivenSource();
  const warnings: string[] = [];
  const directory = new AgentDirectory(source, { restartDelayMs: 20, logger: { warn: (_o: unknown, msg?: string) => warnings.push(msg ?? '') } as never });
  directory.start();
  publish([agentPod('rpf-agent-a', 'node-a')]);
  t.true(directory.synced);
  fail(new Error('watch closed'));
  t.false(directory.synced);
  t.is(directory.onNode('node-a'), undefined);
  t.regex(warnings[0] ?? '', /looked up through the API/);
  while (counts.starts < 2) await new Promise((resolve) => setTimeout(resolve, 5));
  publish([agentPod('rpf-agent-a2', 'node-a')]);
  t.is(directory.onNode('node-a')?.[0]?.name, 'rpf-agent-a2');
  directory.stop();
  t.false(directory.synced);
});
