// Where admission and the sandbox policy sit in a tunnel request's checks
// (tunnel-authorization.ts): webhooks hear only of requests the user may
// make, with the parsed query; a sandboxed pod is refused for what it is even
// when it does not run; refusals give the session slot back.
import test from 'ava';
import type { IncomingMessage } from 'node:http';
import type { TunnelAdmissionAttributes } from '../../server/admission-review.ts';
import { Authorizer } from '../../server/authorizer.ts';
import { RpfServerError } from '../../server/errors.ts';
import { SandboxPolicy } from '../../server/sandbox-policy.ts';
import { SessionLimiter } from '../../server/session-limit.ts';
import { authorizeTunnel } from '../../server/tunnel-authorization.ts';
import type { TunnelAuthorizationDeps } from '../../server/tunnel-authorization.ts';
import { agentPod, DENY, fakeClock, fakeKube, headerAuthenticator, pod } from './helpers/fakes.ts';

function setup(verdict: 'allow' | 'deny' = 'allow') {
  const kube = fakeKube({
    pods: [
      pod({ name: 'web' }),
      pod({ name: 'vm', runtimeClassName: 'gvisor', phase: 'Pending', nodeName: 'node-a' }),
      pod({ name: 'vm-unscheduled', runtimeClassName: 'gvisor', phase: 'Pending', nodeName: '' }),
      agentPod('node-a', '10.0.0.2'),
    ],
  });
  const admitted: TunnelAdmissionAttributes[] = [];
  const sessions = new SessionLimiter(5);
  const deps: TunnelAuthorizationDeps = {
    auth: headerAuthenticator(),
    authorizer: new Authorizer({ kube, clock: fakeClock() }),
    kube,
    agents: { namespace: 'kube-rpf', selector: 'app.kubernetes.io/name=rpf-agent', port: 10250 },
    allowedPorts: [{ from: 1, to: 65535 }],
    allowHostNetworkPods: false,
    sessions,
    admission: {
      async admit(attrs) {
        admitted.push(attrs);
        if (verdict === 'deny') throw new RpfServerError('RPF_ERR_SERVER_ADMISSION_DENIED', 'denied by test');
      },
    },
    sandbox: new SandboxPolicy({ patterns: ['runsc'], clock: fakeClock(), lookup: async (name) => (name === 'gvisor' ? 'runsc' : undefined) }),
  };
  return { deps, kube, admitted, sessions };
}

function request(podName: string, query = 'ports=8080'): IncomingMessage {
  const headers = { upgrade: 'websocket', 'x-remote-user': 'alice', 'x-remote-group': 'dev' };
  return { url: `/apis/rpf.kube-rpf.dev/v1alpha1/namespaces/dev/pods/${podName}/reverseportforward?${query}`, method: 'GET', headers, rawHeaders: ['X-Remote-User', 'alice', 'X-Remote-Group', 'dev'] } as unknown as IncomingMessage;
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof RpfServerError) return err.code;
    throw err;
  }
  return 'admitted';
}

test('the webhooks are asked with the user, the pod and the parsed, defaulted query', async (t) => {
  const { deps, admitted } = setup();
  await authorizeTunnel(deps, request('web', 'ports=8080&ports=0&address=localhost')).prepared;
  t.deepEqual(admitted, [{ namespace: 'dev', pod: 'web', user: { user: 'alice', groups: ['dev'], uid: '', extra: {} }, ports: [8080, 0], addresses: ['127.0.0.1', '::1'] }]);
});

test('a user RBAC refuses is never reported to the webhooks', async (t) => {
  const { deps, kube, admitted } = setup();
  kube.review = () => DENY;
  t.is(await code(authorizeTunnel(deps, request('web')).prepared), 'RPF_ERR_SERVER_FORBIDDEN');
  t.deepEqual(admitted, []);
});

test('an invalid query is refused before the webhooks are asked', async (t) => {
  const { deps, admitted } = setup();
  t.is(await code(authorizeTunnel(deps, request('web', 'ports=99999')).prepared), 'RPF_ERR_SERVER_INVALID_QUERY');
  t.deepEqual(admitted, []);
});

test('a denial refuses the tunnel and gives the slot back', async (t) => {
  const { deps, sessions } = setup('deny');
  t.is(await code(authorizeTunnel(deps, request('web')).prepared), 'RPF_ERR_SERVER_ADMISSION_DENIED');
  t.is(sessions.count('alice'), 0);
});

test('a sandboxed pod is refused as sandboxed, not as not running, scheduled or not', async (t) => {
  const { deps, sessions } = setup();
  t.is(await code(authorizeTunnel(deps, request('vm')).prepared), 'RPF_ERR_SERVER_SANDBOXED_POD');
  t.is(await code(authorizeTunnel(deps, request('vm-unscheduled')).prepared), 'RPF_ERR_SERVER_SANDBOXED_POD');
  t.is(sessions.count('alice'), 0);
});

test('a sandboxed pod is still refused 403 first to a user RBAC refuses: nothing is learnt of the pod', async (t) => {
  const { deps, kube } = setup();
  kube.review = () => DENY;
  t.is(await code(authorizeTunnel(deps, request('vm')).prepared), 'RPF_ERR_SERVER_FORBIDDEN');
});
