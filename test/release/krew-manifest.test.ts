// The krew manifest's text: what krew-index asks for, in YAML that parses back.
import test from 'ava';
import { load } from 'js-yaml';
import { DESCRIPTION, SHORT_DESCRIPTION, krewManifest } from '../../release/krew-manifest.ts';

const platform = { os: 'linux', arch: 'amd64', uri: 'https://example.test/v1.2.3/a.tar.gz', sha256: 'ab'.repeat(32), bin: 'kubectl-rpf' };

test('the manifest parses back to the plugin, version and platforms it was given', (t) => {
  const manifest = load(krewManifest({ version: 'v1.2.3', homepage: 'https://example.test', platforms: [platform] })) as {
    metadata: { name: string };
    spec: { version: string; homepage: string; shortDescription: string; description: string; platforms: unknown[] };
  };
  t.is(manifest.metadata.name, 'rpf');
  t.is(manifest.spec.version, 'v1.2.3');
  t.is(manifest.spec.homepage, 'https://example.test');
  t.is(manifest.spec.shortDescription, SHORT_DESCRIPTION);
  t.is(manifest.spec.description, DESCRIPTION);
  t.deepEqual(manifest.spec.platforms, [{
    selector: { matchLabels: { os: 'linux', arch: 'amd64' } },
    uri: platform.uri,
    sha256: platform.sha256,
    bin: 'kubectl-rpf',
    files: [{ from: 'kubectl-rpf', to: '.' }, { from: 'LICENSE', to: '.' }],
  }]);
});

test('krew-index limits: a short description under 50 characters that does not start with the plugin name', (t) => {
  t.true(SHORT_DESCRIPTION.length < 50);
  t.false(/^(kubectl|rpf)\b/i.test(SHORT_DESCRIPTION));
});

test('a version without the leading v is refused', (t) => {
  t.throws(() => krewManifest({ version: '1.2.3', homepage: 'h', platforms: [platform] }), { message: /v1\.2\.3/ });
});
