// The client as ONE CommonJS file, the form a Node.js single executable
// application runs (Node 24's SEA has no ES module entry). esbuild bundles
// client/main.ts with every dependency it reaches except
// @kubernetes/client-node, which only exec and auth-provider users need:
// it is bundled on its own (CLIENT_NODE_ASSET, 6 MB of code) and the
// executable carries it as a SEA asset, compiled only when one of those
// users starts. In the main script it cost every start ~35 ms of loading,
// even from the code cache (docs/benchmarks.md, session start).
//
// The client's source needs no rewriting for it: main.ts has no top-level
// await (CommonJS has none), clientVersion() answers KUBE_RPF_VERSION, defined
// below, and tunnel-connection.ts requires ws with a require esbuild can see.
// The build fails (esbuild's error) rather than ship a bundle missing a module.
import path from 'node:path';
import { build } from 'esbuild';
import type { Plugin } from 'esbuild';

/** The name of @kubernetes/client-node's bundle: a SEA asset, and a file next to the main bundle. */
export const CLIENT_NODE_ASSET = 'client-node.cjs';

// What `import('@kubernetes/client-node')` loads in the bundle: in the
// executable, the asset compiled as a CommonJS module (its own require then
// reaches only Node's built-in modules, all it needs); run by plain node
// (the bundle's tests), the file next to the bundle.
const CLIENT_NODE_LOADER = `
const sea = require('node:sea');
const path = require('node:path');
if (sea.isSea()) {
  const Module = require('node:module');
  const filename = path.join(path.dirname(process.execPath), ${JSON.stringify(CLIENT_NODE_ASSET)});
  const loaded = new Module(filename);
  loaded.filename = filename;
  loaded._compile(sea.getAsset(${JSON.stringify(CLIENT_NODE_ASSET)}, 'utf8'), filename);
  module.exports = loaded.exports;
} else {
  module.exports = require(path.join(__dirname, ${JSON.stringify(CLIENT_NODE_ASSET)}));
}
`;

/** Resolves @kubernetes/client-node to {@link CLIENT_NODE_LOADER}. */
const clientNodeFromAsset: Plugin = {
  name: 'client-node-from-asset',
  setup(b) {
    b.onResolve({ filter: /^@kubernetes\/client-node$/ }, () => ({ path: 'client-node', namespace: 'kube-rpf-asset' }));
    b.onLoad({ filter: /.*/, namespace: 'kube-rpf-asset' }, () => ({ contents: CLIENT_NODE_LOADER, loader: 'js' }));
  },
};

/**
 * Bundles client/main.ts into `outfile` (CommonJS, minified whitespace and
 * syntax) and @kubernetes/client-node into {@link CLIENT_NODE_ASSET} next to
 * it; returns that file's path.
 */
export async function bundleClient(options: { root: string; outfile: string; version: string }): Promise<{ clientNode: string }> {
  const { root, outfile, version } = options;
  const clientNode = path.join(path.dirname(outfile), CLIENT_NODE_ASSET);
  const common = {
    absWorkingDir: root,
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'cjs',
    // Names kept: stack traces and error classes stay readable; whitespace
    // and syntax minification alone shrink the file by a third.
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'none',
    logLevel: 'warning',
  } as const;
  await build({
    ...common,
    stdin: { contents: "module.exports = require('@kubernetes/client-node');", resolveDir: root, loader: 'js' },
    outfile: clientNode,
  });
  await build({
    ...common,
    entryPoints: ['client/main.ts'],
    outfile,
    // ws tries these native helpers and falls back to JavaScript when
    // require throws, which an executable's require does for anything
    // that is not built in.
    external: ['bufferutil', 'utf-8-validate'],
    plugins: [clientNodeFromAsset],
    // The SEA's main script has CommonJS's __filename (the executable):
    // createRequire gets a real file URL and loads Node's built-in modules.
    // KUBE_RPF_VERSION: clientVersion() (client/cli.ts) answers it, as the
    // executable has no package.json to read.
    define: { 'import.meta.url': '__kubeRpfModuleUrl', KUBE_RPF_VERSION: JSON.stringify(version) },
    // ("use strict" first: the client's modules are ES modules, strict code.)
    banner: { js: "'use strict';const __kubeRpfModuleUrl = require('node:url').pathToFileURL(__filename).href;" },
  });
  return { clientNode };
}
