import test from 'ava';
import {
  SUBPROTOCOL_V1,
  SUPPORTED_SUBPROTOCOLS,
  checkAcceptedSubprotocol,
  parseSubprotocols,
  selectSubprotocol,
  subprotocolHeader,
  subprotocolVersion,
} from '../../protocol/index.ts';

test('version 1 is the subprotocol v1.rpf.kube-rpf.dev and this build speaks it', (t) => {
  t.is(SUBPROTOCOL_V1, 'v1.rpf.kube-rpf.dev');
  t.true(SUPPORTED_SUBPROTOCOLS.includes(SUBPROTOCOL_V1));
  t.is(subprotocolVersion(SUBPROTOCOL_V1), 1);
  t.is(subprotocolVersion('v12.rpf.kube-rpf.dev'), 12);
  t.is(subprotocolVersion('v0.rpf.kube-rpf.dev'), undefined);
  t.is(subprotocolVersion('v4.channel.k8s.io'), undefined);
});

test('the client header lists every supported version, preferred first', (t) => {
  t.deepEqual(parseSubprotocols(subprotocolHeader()), [...SUPPORTED_SUBPROTOCOLS]);
  t.is(subprotocolHeader(['v2.rpf.kube-rpf.dev', 'v1.rpf.kube-rpf.dev']), 'v2.rpf.kube-rpf.dev, v1.rpf.kube-rpf.dev');
});

const offers: Array<{ name: string; offered: string | string[] | Set<string> | undefined; picked: string }> = [
  { name: 'a single offer', offered: 'v1.rpf.kube-rpf.dev', picked: SUBPROTOCOL_V1 },
  { name: 'a comma-separated header', offered: 'v9.rpf.kube-rpf.dev, v1.rpf.kube-rpf.dev', picked: SUBPROTOCOL_V1 },
  { name: 'repeated headers', offered: ['base64.binary.k8s.io', ' v1.rpf.kube-rpf.dev '], picked: SUBPROTOCOL_V1 },
  { name: "the Set that ws's handleProtocols passes", offered: new Set(['v1.rpf.kube-rpf.dev']), picked: SUBPROTOCOL_V1 },
];

for (const { name, offered, picked } of offers) {
  test(`the agent picks the first supported offer from ${name}`, (t) => {
    t.deepEqual(selectSubprotocol(offered), { ok: true, protocol: picked });
  });
}

test("the agent follows the client's order of preference", (t) => {
  const supported = ['v2.rpf.kube-rpf.dev', 'v1.rpf.kube-rpf.dev'];
  t.deepEqual(selectSubprotocol('v1.rpf.kube-rpf.dev, v2.rpf.kube-rpf.dev', supported), { ok: true, protocol: 'v1.rpf.kube-rpf.dev' });
});

const mismatches: Array<{ name: string; offered: string | undefined; supported: string[]; names: string[] }> = [
  { name: 'a newer client', offered: 'v2.rpf.kube-rpf.dev', supported: ['v1.rpf.kube-rpf.dev'], names: ['v2.rpf.kube-rpf.dev', 'v1.rpf.kube-rpf.dev'] },
  { name: 'an older client', offered: 'v1.rpf.kube-rpf.dev', supported: ['v3.rpf.kube-rpf.dev'], names: ['v1.rpf.kube-rpf.dev', 'v3.rpf.kube-rpf.dev'] },
  { name: 'a client that offers nothing', offered: undefined, supported: ['v1.rpf.kube-rpf.dev'], names: ['v1.rpf.kube-rpf.dev'] },
  { name: 'a foreign protocol', offered: 'v4.channel.k8s.io', supported: ['v1.rpf.kube-rpf.dev'], names: ['v4.channel.k8s.io', 'v1.rpf.kube-rpf.dev'] },
];

for (const { name, offered, supported, names } of mismatches) {
  test(`${name} gets VERSION_MISMATCH naming both sides' versions`, (t) => {
    const result = selectSubprotocol(offered, supported);
    t.false(result.ok);
    if (result.ok) return;
    t.is(result.error.code, 'RPF_ERR_PROTOCOL_VERSION_MISMATCH');
    // The message is for the user; it must at least name what each side speaks.
    for (const n of names) t.true(result.error.message.includes(n), n);
  });
}

test('the client accepts only a subprotocol it offered', (t) => {
  t.deepEqual(checkAcceptedSubprotocol(SUBPROTOCOL_V1), { ok: true, protocol: SUBPROTOCOL_V1 });
  for (const accepted of [undefined, '', 'v2.rpf.kube-rpf.dev']) {
    const result = checkAcceptedSubprotocol(accepted);
    t.false(result.ok);
    if (!result.ok) t.is(result.error.code, 'RPF_ERR_PROTOCOL_VERSION_MISMATCH');
  }
});
