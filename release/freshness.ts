// Whether dist/release is newer than everything it is made from, so that
// the tests and the demo can reuse a build instead of making it again.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** What the release is made from, relative to the repository root: a change to any makes it stale. */
export const RELEASE_INPUTS = ['client', 'protocol', 'release', 'package.json', 'package-lock.json', 'LICENSE'] as const;

/** Files every complete release holds, relative to dist/release. */
export const RELEASE_FILES = ['rpf.yaml', 'SHA256SUMS', 'kubectl-rpf-linux-amd64.tar.gz', 'kubectl-rpf-linux-arm64.tar.gz'] as const;

function newestMtime(file: string): number {
  const stat = statSync(file);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(0, ...readdirSync(file).map((name) => newestMtime(join(file, name))));
}

/** True when `root`/dist/release is complete and newer than every input. The manifest is written last. */
export function releaseIsFresh(root: string): boolean {
  const dir = join(root, 'dist/release');
  if (!RELEASE_FILES.every((file) => existsSync(join(dir, file)))) return false;
  const built = statSync(join(dir, 'rpf.yaml')).mtimeMs;
  return RELEASE_INPUTS.every((input) => !existsSync(join(root, input)) || newestMtime(join(root, input)) < built);
}
