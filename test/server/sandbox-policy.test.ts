// The sandbox policy: which RuntimeClass handlers count as VM sandboxes, the
// refusal (its message is the user's contract: pod, RuntimeClass, handler,
// why), and the RuntimeClass lookups it makes.
import test from 'ava';
import { RpfServerError } from '../../server/errors.ts';
import { DEFAULT_SANDBOXED_HANDLERS, matchingPattern, parseHandlerPatterns, SandboxPolicy } from '../../server/sandbox-policy.ts';
import { fakeClock, pod } from './helpers/fakes.ts';

const defaults = (() => {
  const parsed = parseHandlerPatterns(DEFAULT_SANDBOXED_HANDLERS);
  if (!parsed.ok) throw new Error('the default does not parse');
  return parsed.patterns;
})();

const handlers: [handler: string, sandboxed: boolean][] = [
  ['kata', true],
  ['kata-qemu', true],
  ['kata-fc', true],
  ['kata-clh', true],
  ['runsc', true],
  ['runsc-kvm', true],
  ['gvisor', true],
  ['firecracker', true],
  ['fc', true],
  ['runc', false],
  ['crun', false],
  ['nvidia', false],
  ['katana', false],
  ['my-kata', false],
];
for (const [handler, sandboxed] of handlers) {
  test(`by default, handler ${handler} is ${sandboxed ? '' : 'not '}sandboxed`, (t) => {
    t.is(matchingPattern(defaults, handler) !== undefined, sandboxed);
  });
}

test('patterns: * matches any run of characters, other characters only themselves', (t) => {
  t.is(matchingPattern(['a*z'], 'abcz'), 'a*z');
  t.is(matchingPattern(['a.z'], 'abz'), undefined);
  t.is(matchingPattern(['*'], 'anything'), '*');
});

test('the list parses with spaces and duplicates, an empty list sandboxes nothing, and bad entries are all quoted', (t) => {
  t.deepEqual(parseHandlerPatterns(' kata , kata ,runsc'), { ok: true, patterns: ['kata', 'runsc'] });
  t.deepEqual(parseHandlerPatterns(''), { ok: true, patterns: [] });
  const bad = parseHandlerPatterns('kata,a b,c/d');
  t.false(bad.ok);
  if (!bad.ok) t.deepEqual(bad.errors.map((e) => e.split(' ')[0]), ['"a', '"c/d"']);
});

function policy(handlersByClass: Record<string, string>, patterns = defaults) {
  const lookups: string[] = [];
  const clock = fakeClock();
  const sandbox = new SandboxPolicy({
    patterns,
    clock,
    lookup: async (name) => {
      lookups.push(name);
      if (name === 'broken') throw new Error('connection refused');
      return handlersByClass[name];
    },
  });
  return { sandbox, lookups, clock };
}

test('a pod whose RuntimeClass handler is sandboxed is refused with 400, naming pod, RuntimeClass and handler', async (t) => {
  const { sandbox } = policy({ gvisor: 'runsc' });
  const err = await t.throwsAsync(sandbox.check(pod({ name: 'web', runtimeClassName: 'gvisor' })), { instanceOf: RpfServerError });
  t.is((err as RpfServerError).code, 'RPF_ERR_SERVER_SANDBOXED_POD');
  t.is((err as RpfServerError).status, 400);
  t.is(
    err?.message,
    'pod dev/web runs in a VM sandbox (RuntimeClass "gvisor", handler "runsc"): its processes use the sandbox\'s own network stack, which rpf-agent cannot enter, so a listener would be unreachable from the pod (the server policy treats handlers matching "runsc" as sandboxed)',
  );
});

test('pods without a RuntimeClass, or with one whose handler is not sandboxed, pass; the first costs no lookup', async (t) => {
  const { sandbox, lookups } = policy({ fast: 'crun' });
  await sandbox.check(pod({ name: 'plain' }));
  await sandbox.check(pod({ name: 'empty', runtimeClassName: '' }));
  t.deepEqual(lookups, []);
  await sandbox.check(pod({ name: 'crun', runtimeClassName: 'fast' }));
  t.deepEqual(lookups, ['fast']);
});

test('an empty policy checks nothing', async (t) => {
  const { sandbox, lookups } = policy({ vm: 'kata' }, []);
  await sandbox.check(pod({ name: 'web', runtimeClassName: 'vm' }));
  t.deepEqual(lookups, []);
});

test('a RuntimeClass that no longer exists is refused (cannot tell), one that cannot be read is a 500', async (t) => {
  const { sandbox } = policy({});
  const gone = await t.throwsAsync(sandbox.check(pod({ name: 'web', runtimeClassName: 'deleted' })), { instanceOf: RpfServerError });
  t.is((gone as RpfServerError).code, 'RPF_ERR_SERVER_SANDBOXED_POD');
  t.regex(gone?.message ?? '', /RuntimeClass "deleted", which does not exist/);
  const broken = await t.throwsAsync(sandbox.check(pod({ name: 'web', runtimeClassName: 'broken' })), { instanceOf: RpfServerError });
  t.is((broken as RpfServerError).code, 'RPF_ERR_SERVER_KUBE_API');
});

test('a RuntimeClass\'s handler is looked up once a minute at most', async (t) => {
  const { sandbox, lookups, clock } = policy({ fast: 'crun' });
  await sandbox.check(pod({ name: 'a', runtimeClassName: 'fast' }));
  await sandbox.check(pod({ name: 'b', runtimeClassName: 'fast' }));
  t.deepEqual(lookups, ['fast']);
  clock.advance(60_001);
  await sandbox.check(pod({ name: 'c', runtimeClassName: 'fast' }));
  t.deepEqual(lookups, ['fast', 'fast']);
});
