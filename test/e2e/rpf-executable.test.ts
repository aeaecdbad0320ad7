// The released single executable on the real cluster: kubectl-rpf installed
// with krew from dist/release (the manifest and this machine's archive),
// run by kubectl on a PATH where no Node.js can be found, carries a session
// in which a pod fetches a page from this machine.
//
// It needs the release: test/run.sh runs the release tests (which build it)
// before e2e; alone, run `npm run dist` first.
import { existsSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { hostTarget } from '../../release/single-executable.ts';
import { scratchDir } from '../helpers/scratch-dir.ts';
import { krewInstall, krewTools, kubectlOnlyDir, releaseDir, releaseIsComplete, releaseIsFresh, repoRoot } from '../release/helpers/release.ts';
import { createNamespace, deleteNamespace, kubectl, kubectlOk, startTestbox } from './helpers/cluster.ts';
import { startHttpServer } from './helpers/local-server.ts';
import { startRpf } from './helpers/rpf.ts';

const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string };

let namespace: string;
let krewRoot: string;
let executable: string;

test.before(async (t) => {
  t.timeout(5 * 60_000, 'building krew on a new machine');
  if (!releaseIsComplete()) {
    throw new Error(`${releaseDir} is missing or incomplete: run \`npm run dist\` first (test/run.sh runs the release tests, which build it, before e2e)`);
  }
  // Stale only when a source changed after the release tests built it: worth saying, not failing.
  if (!releaseIsFresh()) t.log(`${releaseDir} is older than a source file; this tests that build`);
  const { krew } = await krewTools();
  krewRoot = scratchDir('rpf-e2e-krew-');
  await krewInstall(krew, krewRoot, hostTarget()!.arch);
  executable = path.join(krewRoot, 'store/rpf', `v${pkg.version}`, 'kubectl-rpf');
  // From here on this process, the kubectl it runs and the plugin find only
  // the krew-installed kubectl-rpf and kubectl: no node, no npm-installed plugin.
  const noNode = await kubectlOnlyDir(path.join(scratchDir('rpf-e2e-path-'), 'bin'));
  process.env.PATH = `${krewRoot}/bin:${noNode}`;
  namespace = await createNamespace('rpf-exe');
  await startTestbox(namespace, 'app');
});

test.after.always(async () => {
  if (namespace) await deleteNamespace(namespace);
});

test.serial('kubectl finds only the krew-installed plugin, and no Node.js is on PATH', async (t) => {
  const plugins = await kubectlOk(['plugin', 'list', '--name-only']);
  t.deepEqual(plugins.trim().split('\n').filter((line) => line.includes('kubectl-')), ['kubectl-rpf']);
  t.false(process.env.PATH!.split(':').some((dir) => existsSync(path.join(dir, 'node'))), 'a node executable is on PATH');
});

test.serial('a pod fetches a page from this machine through the single executable', async (t) => {
  const web = await startHttpServer('hello from the single executable\n');
  const rpf = await startRpf(['-n', namespace, 'app', `8080:${web.port}`], 2);
  try {
    // kubectl execs its plugin in place: the session's process is the executable itself.
    t.is(readlinkSync(`/proc/${rpf.child.pid}/exe`), realpathSync(executable));
    t.true(rpf.forwarding.every((f) => f.pod === `${namespace}/app` && f.remotePort === 8080 && f.localPort === web.port));
    const page = await kubectl(['exec', '-n', namespace, 'app', '--', 'wget', '-qO-', 'http://127.0.0.1:8080/']);
    t.is(page.stdout, 'hello from the single executable\n', page.stderr);
    t.regex(rpf.stdout(), /Handling connection for 8080/);
  } finally {
    const exit = await rpf.stop();
    await web.close();
    t.is(exit.code, 0, rpf.stderr());
  }
});
