/**
 * The pods a tunnel involves: the target pod (must exist, run, and not share
 * the node's network unless policy allows) and the rpf-agent pod on its node.
 */
import type { AgentDirectory } from './agent-directory.ts';
import { RpfServerError } from './errors.ts';
import type { KubeClient, PodInfo } from './kube-client.ts';

/** Where the agents live and how to reach them. */
export interface AgentLocation {
  readonly namespace: string;
  readonly selector: string;
  readonly port: number;
  /** The agent pods by node, kept by a watch: a hit saves the API call, a miss falls back to it. */
  readonly directory?: Pick<AgentDirectory, 'onNode'>;
}

/** One ready agent. */
export interface AgentTarget {
  readonly host: string;
  readonly port: number;
  readonly nodeName: string;
  readonly podName: string;
}

function kubeError(what: string, err: unknown): RpfServerError {
  return new RpfServerError('RPF_ERR_SERVER_KUBE_API', `cannot ${what}: ${(err as Error).message}`, undefined, { cause: err });
}

/**
 * Reads the target pod and applies the checks; throws 404, 400 or 403
 * RpfServerErrors. A pod being deleted is refused like one that does not run
 * (400 BadRequest, as kube-apiserver answers a stream to a pod without a node
 * and kubelet an exec into a finished pod): its state makes the request
 * invalid, and no retry against the same pod can succeed. 409 is left to the
 * agent's "port already in use", which asks for another port, not another pod.
 */
export async function resolveTargetPod(
  kube: KubeClient,
  namespace: string,
  name: string,
  allowHostNetworkPods: boolean,
  sandbox?: { check(pod: PodInfo): Promise<void> },
): Promise<PodInfo> {
  let pod: PodInfo | undefined;
  try {
    pod = await kube.getPod(namespace, name);
  } catch (err) {
    throw kubeError(`read pod ${namespace}/${name}`, err);
  }
  const details = { name, kind: 'pods' };
  if (pod === undefined) throw new RpfServerError('RPF_ERR_SERVER_POD_NOT_FOUND', `pods "${name}" not found`, details);
  // Listeners in a pod being deleted would die with it, often within the grace period.
  if (pod.terminating) throw new RpfServerError('RPF_ERR_SERVER_POD_TERMINATING', `pod ${namespace}/${name} is terminating`, details);
  // Before the phase: a VM-sandboxed pod that cannot start on this node is still refused for what it is (sandbox-policy.ts).
  if (sandbox !== undefined) await sandbox.check(pod);
  if (pod.phase !== 'Running' || pod.nodeName === '') {
    throw new RpfServerError('RPF_ERR_SERVER_POD_NOT_RUNNING', `pod ${namespace}/${name} is not running (phase ${pod.phase === '' ? 'Unknown' : pod.phase})`, details);
  }
  if (pod.hostNetwork && !allowHostNetworkPods) {
    throw new RpfServerError(
      'RPF_ERR_SERVER_HOST_NETWORK_FORBIDDEN',
      `pod ${namespace}/${name} uses the host network: a listener there would open a port on node ${pod.nodeName}, which the server policy forbids`,
      details,
    );
  }
  return pod;
}

function isReadyAgent(pod: PodInfo): boolean {
  return pod.phase === 'Running' && pod.ready && pod.podIP !== '' && !pod.terminating;
}

function toTarget(pod: PodInfo, port: number): AgentTarget {
  return { host: pod.podIP, port, nodeName: pod.nodeName, podName: pod.name };
}

/** The Ready agent on a node; throws 503 RPF_ERR_SERVER_NO_AGENT when there is none. */
export async function findAgentOnNode(kube: KubeClient, agents: AgentLocation, nodeName: string): Promise<AgentTarget> {
  const known = agents.directory?.onNode(nodeName)?.find((p) => p.nodeName === nodeName && isReadyAgent(p));
  if (known !== undefined) return toTarget(known, agents.port);
  let pods: PodInfo[];
  try {
    pods = await kube.listPods(agents.namespace, agents.selector, `spec.nodeName=${nodeName}`);
  } catch (err) {
    throw kubeError(`list rpf-agent pods in namespace ${agents.namespace}`, err);
  }
  // The field selector already filters; checking again keeps a lax fake or cache honest.
  const agent = pods.find((p) => p.nodeName === nodeName && isReadyAgent(p));
  if (agent === undefined) throw new RpfServerError('RPF_ERR_SERVER_NO_AGENT', `no rpf-agent is ready on node ${nodeName}`);
  return toTarget(agent, agents.port);
}

/** An agent pod that is on a node but not Ready there. */
export interface UnreadyAgent {
  readonly nodeName: string;
  readonly podName: string;
}

/**
 * The agents a listing asks (every Ready one) and the nodes it cannot ask: an
 * agent pod is there but none is Ready (crashed and restarting, starting,
 * terminating). Their sessions are not gone, only unlisted; the caller says so.
 */
export interface AgentCensus {
  readonly ready: AgentTarget[];
  readonly unready: UnreadyAgent[];
}

/** Every agent pod, sorted into {@link AgentCensus} (for listing sessions across nodes). */
export async function listAgents(kube: KubeClient, agents: AgentLocation): Promise<AgentCensus> {
  let pods: PodInfo[];
  try {
    pods = await kube.listPods(agents.namespace, agents.selector);
  } catch (err) {
    throw kubeError(`list rpf-agent pods in namespace ${agents.namespace}`, err);
  }
  const ready = pods.filter(isReadyAgent).map((p) => toTarget(p, agents.port));
  const covered = new Set(ready.map((a) => a.nodeName));
  const unready = new Map<string, UnreadyAgent>();
  for (const pod of pods) {
    // A node with a Ready agent is covered (a rollout's old pod terminating beside it); an unscheduled pod holds nothing.
    if (pod.nodeName === '' || covered.has(pod.nodeName) || unready.has(pod.nodeName)) continue;
    unready.set(pod.nodeName, { nodeName: pod.nodeName, podName: pod.name });
  }
  return { ready, unready: [...unready.values()] };
}
