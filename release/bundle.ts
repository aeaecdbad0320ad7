// The client as ONE CommonJS file, the form a Node.js single executable
// application runs (Node 24's SEA has no ES module entry). esbuild bundles
// client/main.ts with every dependency it reaches, @kubernetes/client-node
// included (imported lazily, and still evaluated only when an exec or
// auth-provider user needs it).
//
// The client's source needs no rewriting for it: main.ts has no top-level
// await (CommonJS has none), clientVersion() answers KUBE_RPF_VERSION, defined
// below, and tunnel-connection.ts requires ws with a require esbuild can see.
// The build fails (esbuild's error) rather than ship a bundle missing a module.

import { build } from 'esbuild';

/** Bundles client/main.ts into `outfile` (CommonJS, minified whitespace only). */
export async function bundleClient(options: { root: string; outfile: string; version: string }): Promise<void> {
  const { root, outfile, version } = options;
  await build({
    absWorkingDir: root,
    entryPoints: ['client/main.ts'],
    outfile,
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
    // ws tries these native helpers and falls back to JavaScript when
    // require throws, which an executable's require does for anything
    // that is not built in.
    external: ['bufferutil', 'utf-8-validate'],
    // The SEA's main script has CommonJS's __filename (the executable):
    // createRequire gets a real file URL and loads Node's built-in modules.
    // KUBE_RPF_VERSION: clientVersion() (client/cli.ts) answers it, as the
    // executable has no package.json to read.
    define: { 'import.meta.url': '__kubeRpfModuleUrl', KUBE_RPF_VERSION: JSON.stringify(version) },
    // ("use strict" first: the client's modules are ES modules, strict code.)
    banner: { js: "'use strict';const __kubeRpfModuleUrl = require('node:url').pathToFileURL(__filename).href;" },
  });
}
