// `npm run build`'s last step: dist/client/cli.js, the CLI that the
// kubectl-rpf command (dist/client/main.js) imports, replaced by one ES
// module holding it and everything it reaches (ws and js-yaml included), so a
// start loads one file instead of ~40: about 25 ms less per `kubectl rpf` on
// the bench machine (docs/benchmarks.md, session start). main.js has turned
// V8's compile cache on before it imports it, so its compiled code is reused
// from the second start on. @kubernetes/client-node stays outside, loaded
// from node_modules only for exec and auth-provider users, as before. The
// library (dist/client/index.js and the rest of tsc's output) is unchanged.
//
// Usage: node release/cli-bundle.ts (from the repository root, after tsc).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/** Bundles client/cli.ts into `outfile` as an ES module. */
export async function bundleCliModule(options: { root: string; outfile: string }): Promise<void> {
  await build({
    absWorkingDir: options.root,
    entryPoints: ['client/cli.ts'],
    outfile: options.outfile,
    allowOverwrite: true,
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'esm',
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'none',
    logLevel: 'warning',
    external: ['@kubernetes/client-node', 'bufferutil', 'utf-8-validate'],
    // ws is CommonJS: its require() of Node's modules needs a real require in an ES module.
    banner: { js: "import { createRequire as __rpfCreateRequire } from 'node:module'; const require = __rpfCreateRequire(import.meta.url);" },
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  await bundleCliModule({ root, outfile: path.join(root, 'dist/client/cli.js') });
}
