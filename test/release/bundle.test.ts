// The client bundled as the single executable runs it (one CommonJS file),
// with no source rewrites: run by plain Node.js from a folder with no
// node_modules, it must hold ws and the build-time version itself.
import { execFile } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { bundleClient, CLIENT_NODE_ASSET } from '../../release/bundle.ts';
import { scratchDir } from '../helpers/scratch-dir.ts';
import { repoRoot } from './helpers/release.ts';

const execFileAsync = promisify(execFile);

let bundle: string;

test.before(async () => {
  const dir = scratchDir('rpf-bundle-');
  bundle = path.join(dir, 'kubectl-rpf.cjs');
  await bundleClient({ root: repoRoot, outfile: bundle, version: '1.2.3-test' });
});

test('the bundle is CommonJS that runs main() and prints the version fixed at build time', async (t) => {
  const { stdout } = await execFileAsync(process.execPath, [bundle, '--version'], { cwd: path.dirname(bundle) });
  t.is(stdout, 'kubectl-rpf 1.2.3-test\n');
});

test('the bundle holds ws itself: no require of it is hidden from the bundler', (t) => {
  // The test above ran it from a scratch folder, with no node_modules to find ws in;
  // the handshake GUID of RFC 6455 is in ws's constants.
  t.true(readFileSync(bundle, 'utf8').includes('258EAFA5-E914-47DA-95CA-C5AB0DC85B11'));
});

test('a failure is one error line and exit 1, as from the unbundled CLI', async (t) => {
  const error = await t.throwsAsync(execFileAsync(process.execPath, [bundle, 'pod/web', '8080', '--kubeconfig', '/nonexistent/kubeconfig'], { cwd: path.dirname(bundle) }));
  const failed = error as Error & { code?: number; stderr?: string };
  t.is(failed.code, 1);
  // The one `error:` line is the CLI's contract with its user.
  t.regex(failed.stderr ?? '', /^error: cannot load kubeconfig \/nonexistent\/kubeconfig: [^\n]*\n$/);
});

test('@kubernetes/client-node is not in the main script but in its own file, loaded only for exec and auth-provider users', (t) => {
  // Every start pays for the main script; client-node's 6 MB of code only
  // the users who need it (release/bundle.ts; the executable carries it as
  // an asset, and release.test.ts runs an exec plugin through it).
  const main = statSync(bundle).size;
  const clientNode = statSync(path.join(path.dirname(bundle), CLIENT_NODE_ASSET)).size;
  t.true(main < 1024 * 1024, `main script ${main} bytes`);
  t.true(clientNode > 2 * 1024 * 1024, `client-node bundle ${clientNode} bytes`);
  t.true(readFileSync(path.join(path.dirname(bundle), CLIENT_NODE_ASSET), 'utf8').includes('loadFromDefault'));
});
