// The target grammar: POD or TYPE/NAME, a pure parser.
import test from 'ava';
import { RpfClientError, formatTarget, parseTarget } from '../../client/index.ts';
import type { TargetRef } from '../../client/index.ts';

const parses: Array<{ name: string; text: string; want: TargetRef }> = [
  { name: 'a bare name is a pod', text: 'web-1', want: { kind: 'pod', name: 'web-1' } },
  { name: 'pod/NAME', text: 'pod/web-1', want: { kind: 'pod', name: 'web-1' } },
  { name: 'po/NAME', text: 'po/web-1', want: { kind: 'pod', name: 'web-1' } },
  { name: 'deployment/NAME', text: 'deployment/web', want: { kind: 'deployment', name: 'web' } },
  { name: 'deploy/NAME', text: 'deploy/web', want: { kind: 'deployment', name: 'web' } },
  { name: 'deployments.apps/NAME', text: 'deployments.apps/web', want: { kind: 'deployment', name: 'web' } },
  { name: 'deployment.v1.apps/NAME', text: 'deployment.v1.apps/web', want: { kind: 'deployment', name: 'web' } },
  { name: 'Deployment/NAME, any case', text: 'Deployment/web', want: { kind: 'deployment', name: 'web' } },
  { name: 'rs/NAME', text: 'rs/web-abc', want: { kind: 'replicaset', name: 'web-abc' } },
  { name: 'sts/NAME', text: 'sts/db', want: { kind: 'statefulset', name: 'db' } },
  { name: 'ds/NAME', text: 'ds/agent', want: { kind: 'daemonset', name: 'agent' } },
  { name: 'rc/NAME', text: 'rc/old', want: { kind: 'replicationcontroller', name: 'old' } },
  { name: 'job.batch/NAME', text: 'job.batch/migrate', want: { kind: 'job', name: 'migrate' } },
  { name: 'svc/NAME', text: 'svc/api', want: { kind: 'service', name: 'api' } },
  { name: 'a dotted name', text: 'pod/a.b-c', want: { kind: 'pod', name: 'a.b-c' } },
];

for (const c of parses) {
  test(`parseTarget reads ${c.name}`, (t) => {
    t.deepEqual(parseTarget(c.text), c.want);
  });
}

const badTargets: Array<{ name: string; text: string }> = [
  { name: 'an unknown type', text: 'cronjob/x' },
  { name: 'a type in the wrong group', text: 'deployment.batch/x' },
  { name: 'a core type with a group', text: 'pod.apps/x' },
  { name: 'an empty name', text: 'pod/' },
  { name: 'two slashes', text: 'a/b/c' },
  { name: 'an uppercase name', text: 'pod/Web' },
  { name: 'a name with an underscore', text: 'web_1' },
];

for (const c of badTargets) {
  test(`parseTarget rejects ${c.name}`, (t) => {
    t.is(t.throws(() => parseTarget(c.text), { instanceOf: RpfClientError })?.code, 'RPF_ERR_CLIENT_INVALID_TARGET');
  });
}

test('formatTarget prints TYPE/NAME with the canonical type', (t) => {
  t.is(formatTarget(parseTarget('deploy/web')), 'deployment/web');
});

test('a rejected target quotes the target and the bad token', (t) => {
  const error = t.throws(() => parseTarget('cronjob/x'), { instanceOf: RpfClientError });
  t.is(error?.code, 'RPF_ERR_CLIENT_INVALID_TARGET');
  // The message is the CLI's one `error:` line, a user contract: it quotes what the user typed.
  t.true(error?.message.startsWith('invalid target "cronjob/x": unsupported resource type "cronjob"'));
});
