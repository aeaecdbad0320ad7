// The release (npm run dist) as tests meet it: built once, or reused when it
// is newer than every input; krew itself, built once from its Go module; and
// a PATH on which no Node.js can be found, so that a passing test proves the
// single executable needs none.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { RELEASE_FILES, releaseIsFresh as releaseIsFreshIn } from '../../../release/freshness.ts';

const execFileAsync = promisify(execFile);

/** The repository root. */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
/** Where npm run dist writes. */
export const releaseDir = path.join(repoRoot, 'dist/release');
/** The krew manifest of the release. */
export const manifestPath = path.join(releaseDir, 'rpf.yaml');

/** The archive of one architecture. */
export function archivePath(arch: 'amd64' | 'arm64'): string {
  return path.join(releaseDir, `kubectl-rpf-linux-${arch}.tar.gz`);
}

/** True when dist/release holds every file of a build, whatever its age. */
export function releaseIsComplete(): boolean {
  return RELEASE_FILES.every((file) => existsSync(path.join(releaseDir, file)));
}

/** True when dist/release holds a complete build newer than every input. */
export function releaseIsFresh(): boolean {
  return releaseIsFreshIn(repoRoot);
}

/** Runs npm run dist's script unless the release is fresh; resolves with what was done. */
export async function ensureRelease(): Promise<'built' | 'reused'> {
  if (releaseIsFresh()) return 'reused';
  await execFileAsync(process.execPath, [path.join(repoRoot, 'release/build.ts')], { cwd: repoRoot, maxBuffer: 16 * 1024 * 1024 });
  return 'built';
}

/** The krew release the tests use, built from its Go module once. */
export const KREW_VERSION = 'v0.4.3';

/** krew and validate-krew-manifest, built with `go install` into ~/.cache/kube-rpf/krew-VERSION the first time. */
export async function krewTools(): Promise<{ krew: string; validate: string }> {
  const cache = process.env.KUBE_RPF_CACHE ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(homedir(), '.cache'), 'kube-rpf');
  const bin = path.join(cache, `krew-${KREW_VERSION}`);
  const tools = { krew: path.join(bin, 'krew'), validate: path.join(bin, 'validate-krew-manifest') };
  if (!existsSync(tools.krew) || !existsSync(tools.validate)) {
    mkdirSync(bin, { recursive: true });
    await execFileAsync('go', ['install', `sigs.k8s.io/krew/cmd/krew@${KREW_VERSION}`, `sigs.k8s.io/krew/cmd/validate-krew-manifest@${KREW_VERSION}`], {
      env: { ...process.env, GOBIN: bin },
      cwd: bin,
      maxBuffer: 16 * 1024 * 1024,
    });
  }
  return tools;
}

/**
 * A directory holding only a `kubectl` link, for a PATH without Node.js
 * (this machine has /usr/bin/node, an old one, next to /usr/bin/kubectl).
 */
export async function kubectlOnlyDir(dir: string): Promise<string> {
  const { stdout } = await execFileAsync('sh', ['-c', 'command -v kubectl']);
  const kubectl = stdout.trim();
  if (!kubectl) throw new Error('kubectl is not on PATH');
  mkdirSync(dir, { recursive: true });
  symlinkSync(kubectl, path.join(dir, 'kubectl'));
  return dir;
}

/** `krew install` of the release's manifest and one archive into `krewRoot`, as if on linux/`arch`. */
export async function krewInstall(krew: string, krewRoot: string, arch: 'amd64' | 'arm64'): Promise<{ stdout: string; stderr: string }> {
  return execFileAsync(krew, ['install', `--manifest=${manifestPath}`, `--archive=${archivePath(arch)}`], {
    env: { PATH: process.env.PATH ?? '', HOME: krewRoot, KREW_ROOT: krewRoot, KREW_OS: 'linux', KREW_ARCH: arch },
  });
}
