// npm run dist: the release of kubectl-rpf in dist/release/
//   kubectl-rpf-linux-amd64.tar.gz, kubectl-rpf-linux-arm64.tar.gz
//     each: kubectl-rpf (a single executable, no Node.js needed) and LICENSE
//   rpf.yaml  the krew manifest, with the archives' SHA-256
//   SHA256SUMS
// Run by Node 24 directly (node release/build.ts). With --if-stale it does
// nothing when dist/release is newer than its inputs. See release/README.md.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { bundleClient, CLIENT_NODE_ASSET } from './bundle.ts';
import { releaseIsFresh } from './freshness.ts';
import { krewManifest } from './krew-manifest.ts';
import { TARGETS, buildExecutable, hostTarget, nodeBinary } from './single-executable.ts';

const root = resolve(import.meta.dirname, '..');
const out = join(root, 'dist/release');
const work = join(root, 'dist/release-work');

/**
 * Where a release would be published: the archives of version V are at
 * RELEASE_BASE/vV/NAME. The project has no public home yet; set
 * KUBE_RPF_RELEASE_URL to the real one when publishing.
 */
const RELEASE_BASE = process.env.KUBE_RPF_RELEASE_URL ?? 'https://github.com/kube-rpf/kube-rpf/releases/download';
const HOMEPAGE = process.env.KUBE_RPF_HOMEPAGE ?? 'https://github.com/kube-rpf/kube-rpf';

if (process.argv.includes('--if-stale') && releaseIsFresh(root)) {
  console.log('dist/release is up to date');
  process.exit(0);
}

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  version: string;
  devDependencies: Record<string, string>;
};
const nodeVersion = pkg.devDependencies.node ?? '';
if (!/^\d+\.\d+\.\d+$/.test(nodeVersion)) throw new Error(`package.json: devDependencies.node must be an exact version, not ${JSON.stringify(nodeVersion)}`);
const host = hostTarget();
if (!host) throw new Error(`npm run dist builds on linux x64 or arm64, not ${process.platform} ${process.arch}`);

// Archive timestamps: SOURCE_DATE_EPOCH, else the last commit, so that the
// same source gives the same archive bytes (all but the code cache: release/README.md).
function sourceDateEpoch(): string {
  if (process.env.SOURCE_DATE_EPOCH) return process.env.SOURCE_DATE_EPOCH;
  try {
    return execFileSync('git', ['log', '-1', '--format=%ct'], { cwd: root, encoding: 'utf8' }).trim() || '0';
  } catch {
    return '0';
  }
}

function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

const started = Date.now();
rmSync(out, { recursive: true, force: true });
rmSync(work, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
mkdirSync(work, { recursive: true });

const bundle = join(work, 'kubectl-rpf.cjs');
const { clientNode } = await bundleClient({ root, outfile: bundle, version: pkg.version });
const blobNode = nodeBinary(host, nodeVersion);
const mtime = `@${sourceDateEpoch()}`;

const platforms = [];
for (const target of TARGETS) {
  const name = `kubectl-rpf-${target.os}-${target.arch}`;
  const stage = join(work, name);
  mkdirSync(stage);
  await buildExecutable({ target, version: nodeVersion, bundle, assets: { [CLIENT_NODE_ASSET]: clientNode }, output: join(stage, 'kubectl-rpf'), blobNode, workDir: work });
  copyFileSync(join(root, 'LICENSE'), join(stage, 'LICENSE'));
  const archive = join(out, `${name}.tar.gz`);
  // GNU tar and gzip -n: fixed order, owner and times, no name in the gzip header.
  execFileSync('bash', ['-o', 'pipefail', '-c',
    'tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="$1" --mode=go-w -C "$2" -cf - kubectl-rpf LICENSE | gzip -6n >"$3"',
    'tar', mtime, stage, archive]);
  platforms.push({
    os: target.os,
    arch: target.arch,
    uri: `${RELEASE_BASE}/v${pkg.version}/${name}.tar.gz`,
    sha256: sha256(archive),
    bin: 'kubectl-rpf',
  });
}

writeFileSync(join(out, 'SHA256SUMS'), platforms.map((p) => `${p.sha256}  ${p.uri.split('/').pop()}\n`).join(''));
// The manifest last: its time stamps the whole release (release/freshness.ts).
writeFileSync(join(out, 'rpf.yaml'), krewManifest({ version: `v${pkg.version}`, homepage: HOMEPAGE, platforms }));
rmSync(work, { recursive: true, force: true });
console.log(`dist/release: kubectl-rpf ${pkg.version} on Node.js ${nodeVersion} for ${TARGETS.map((t) => `${t.os}/${t.arch}`).join(', ')}, rpf.yaml (${((Date.now() - started) / 1000).toFixed(1)} s)`);
