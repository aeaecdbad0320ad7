// The release as a user meets it: the archives of `npm run dist`, its krew
// manifest checked by krew's own validator, `kubectl krew install` from the
// manifest and a local archive, and the installed plugin run by kubectl on a
// PATH where no Node.js can be found. No cluster.
//
// Time: `npm run dist` once (~25 s, plus ~1 min on a new machine to fetch
// two Node.js binaries) unless dist/release is newer than its inputs; krew
// built once from its Go module (~1 min, then cached); the tests ~5 s.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { load } from 'js-yaml';
import { TARGETS, elfMachine, hostTarget } from '../../release/single-executable.ts';
import { scratchDir } from '../helpers/scratch-dir.ts';
import { archivePath, ensureRelease, krewInstall, krewTools, kubectlOnlyDir, manifestPath, repoRoot } from './helpers/release.ts';

const execFileAsync = promisify(execFile);
const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string };
/** The architecture of this machine: the executable that can run here. */
const host = hostTarget()!;

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec: {
    version: string;
    homepage: string;
    shortDescription: string;
    description: string;
    platforms: { selector: { matchLabels: { os: string; arch: string } }; uri: string; sha256: string; bin: string; files: { from: string; to: string }[] }[];
  };
}

let tools: { krew: string; validate: string };
let noNode: string;

test.before(async (t) => {
  t.timeout(15 * 60_000, 'npm run dist and building krew on a new machine');
  const [how, krew] = await Promise.all([ensureRelease(), krewTools()]);
  t.log(`release ${how}`);
  tools = krew;
  noNode = await kubectlOnlyDir(path.join(scratchDir('rpf-release-'), 'bin'));
});

/** Runs a command with nothing but `env`; never throws on a non-zero exit. */
async function runBare(file: string, args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(file, args, { env, timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number | string; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(error) };
  }
}

/** Installs one archive with krew into a fresh KREW_ROOT; resolves with the root. */
async function installed(arch: 'amd64' | 'arm64'): Promise<string> {
  const root = scratchDir(`rpf-krew-${arch}-`);
  await krewInstall(tools.krew, root, arch);
  return root;
}

for (const arch of ['amd64', 'arm64'] as const) {
  test(`the ${arch} archive holds exactly the executable kubectl-rpf and LICENSE`, async (t) => {
    const { stdout } = await execFileAsync('tar', ['-tvzf', archivePath(arch)]);
    const entries = stdout.trim().split('\n').map((line) => {
      const fields = line.trim().split(/\s+/);
      return { mode: fields[0]!, name: fields.at(-1)! };
    });
    t.deepEqual(entries.map((e) => e.name).sort(), ['LICENSE', 'kubectl-rpf']);
    t.is(entries.find((e) => e.name === 'kubectl-rpf')?.mode, '-rwxr-xr-x');
  });
}

test('krew validates the manifest: structure, platforms, no overlap', async (t) => {
  // -skip-install: its install step downloads each uri, and a release URL
  // does not exist before publishing; the tests below install from the archives.
  const result = await runBare(tools.validate, ['-manifest', manifestPath, '-skip-install'], { PATH: process.env.PATH ?? '' });
  t.is(result.code, 0, result.stderr);
  t.regex(result.stderr, /structural validation OK/);
});

test('the manifest names the package version, both platforms and the archives\' SHA-256', (t) => {
  const manifest = load(readFileSync(manifestPath, 'utf8')) as Manifest;
  t.is(manifest.apiVersion, 'krew.googlecontainertools.github.com/v1alpha2');
  t.is(manifest.kind, 'Plugin');
  t.is(manifest.metadata.name, 'rpf');
  t.is(manifest.spec.version, `v${pkg.version}`);
  t.true(manifest.spec.shortDescription.length < 50, 'krew-index asks for a short description under 50 characters');
  t.truthy(manifest.spec.homepage);
  const platforms = manifest.spec.platforms.map((p) => ({
    platform: `${p.selector.matchLabels.os}/${p.selector.matchLabels.arch}`,
    archive: p.uri.split('/').pop(),
    versionInUri: p.uri.includes(`/v${pkg.version}/`),
    bin: p.bin,
    files: p.files.map((f) => f.from).sort(),
  }));
  t.deepEqual(platforms, ['amd64', 'arm64'].map((arch) => ({
    platform: `linux/${arch}`,
    archive: `kubectl-rpf-linux-${arch}.tar.gz`,
    versionInUri: true,
    bin: 'kubectl-rpf',
    files: ['LICENSE', 'kubectl-rpf'],
  })));
  for (const p of manifest.spec.platforms) {
    const arch = p.selector.matchLabels.arch as 'amd64' | 'arm64';
    t.is(p.sha256, createHash('sha256').update(readFileSync(archivePath(arch))).digest('hex'), arch);
  }
});

test('krew installs this machine\'s archive and kubectl runs the plugin with no Node.js on PATH', async (t) => {
  const root = await installed(host.arch);
  const env = { PATH: `${root}/bin:${noNode}`, HOME: root };
  t.not((await runBare('/bin/sh', ['-c', 'command -v node'], env)).code, 0, 'node must not be on this PATH');

  const plugins = await runBare(`${noNode}/kubectl`, ['plugin', 'list', '--name-only'], env);
  t.regex(plugins.stdout, /^kubectl-rpf$/m);
  const version = await runBare(`${noNode}/kubectl`, ['rpf', '--version'], env);
  t.is(version.code, 0, version.stderr);
  t.is(version.stdout, `kubectl-rpf ${pkg.version}\n`);
  const help = await runBare(`${noNode}/kubectl`, ['rpf', '--help'], env);
  t.is(help.code, 0, help.stderr);
  t.regex(help.stdout, /^Usage:\n {2}kubectl rpf TYPE\/NAME/m);
  t.true(existsSync(path.join(root, 'store/rpf', `v${pkg.version}`, 'LICENSE')), 'krew extracted the LICENSE');
});

test('the installed executable reports a failure as one error line and exit 1', async (t) => {
  const root = await installed(host.arch);
  const env = { PATH: `${root}/bin:${noNode}`, HOME: root };
  const result = await runBare(`${noNode}/kubectl`, ['rpf', '-n', 'dev', 'pod/api', '8080:3000', '--kubeconfig', path.join(root, 'missing')], env);
  t.is(result.code, 1);
  // The one `error:` line is the CLI's contract with its user.
  t.regex(result.stderr, /^error: [^\n]*missing[^\n]*\n$/);
});

test('the bundled @kubernetes/client-node serves an exec credential plugin', async (t) => {
  // A user with an exec plugin is the path that loads @kubernetes/client-node
  // (bundled, evaluated on demand). The API server is a closed port: reaching
  // the dial proves the credential path loaded and ran.
  const root = await installed(host.arch);
  const kubeconfig = path.join(root, 'kubeconfig');
  const credential = JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: { token: 'exec-token' } });
  writeFileSync(kubeconfig, JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'c', cluster: { server: 'https://127.0.0.1:1', 'insecure-skip-tls-verify': true } }],
    users: [{ name: 'u', user: { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: '/bin/sh', args: ['-c', `printf '%s' '${credential}'`], interactiveMode: 'Never' } } }],
    contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
    'current-context': 'x',
  }));
  const env = { PATH: `${root}/bin:${noNode}`, HOME: root };
  const args = ['rpf', '-n', 'dev', 'pod/api', '8080:3000', '--kubeconfig', kubeconfig, '--pod-running-timeout', '2s'];
  const result = await runBare(`${noNode}/kubectl`, args, env);
  t.is(result.code, 1);
  t.regex(result.stderr, /^error: [^\n]*(127\.0\.0\.1:1|connection refused|ECONNREFUSED)[^\n]*\n$/i);
  // And a plugin that cannot run is reported as a credential failure: the exec path really ran.
  writeFileSync(kubeconfig, readFileSync(kubeconfig, 'utf8').replace('"/bin/sh"', '"/nonexistent/credential-plugin"'));
  const missing = await runBare(`${noNode}/kubectl`, args, env);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /^error: [^\n]*credentials[^\n]*credential-plugin[^\n]*\n$/);
});

for (const target of TARGETS) {
  test(`krew installs the ${target.arch} archive, and its executable is an ELF for that machine (e_machine ${target.elfMachine})`, async (t) => {
    const root = await installed(target.arch);
    const store = path.join(root, 'store/rpf', `v${pkg.version}`);
    t.is(elfMachine(readFileSync(path.join(store, 'kubectl-rpf'))), target.elfMachine);
    t.true(existsSync(path.join(store, 'LICENSE')));
  });
}

test('this machine\'s executable starts without Node.js', async (t) => {
  const root = await installed(host.arch);
  const executable = path.join(root, 'store/rpf', `v${pkg.version}`, 'kubectl-rpf');
  const started = process.hrtime.bigint();
  const result = await runBare(executable, ['--version'], { PATH: '/nonexistent' });
  t.log(`kubectl-rpf --version: ${Number(process.hrtime.bigint() - started) / 1e6} ms`);
  t.is(result.stdout, `kubectl-rpf ${pkg.version}\n`, result.stderr);
});

test('the executable ignores NODE_OPTIONS, which belongs to the user\'s own Node.js', async (t) => {
  const root = await installed(host.arch);
  const executable = path.join(root, 'store/rpf', `v${pkg.version}`, 'kubectl-rpf');
  const result = await runBare(executable, ['--version'], { PATH: '/nonexistent', NODE_OPTIONS: '--require /nonexistent/preload.js' });
  t.is(result.code, 0, result.stderr);
  t.is(result.stdout, `kubectl-rpf ${pkg.version}\n`);
});
