// The client as ONE CommonJS file, the form a Node.js single executable
// application runs (Node 24's SEA has no ES module entry). esbuild bundles
// client/main.ts with every dependency it reaches, @kubernetes/client-node
// included (imported lazily, and still evaluated only when an exec or
// auth-provider user needs it).
//
// Three things in the client's source assume a file on disk next to it; a
// single executable has none. Each is rewritten here by an exact, counted
// text replacement, and the build fails loudly when the source no longer
// matches, rather than shipping a binary that breaks at run time. Each
// rewrite names the client change that would make it unnecessary.

import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { build } from 'esbuild';
import type { Plugin } from 'esbuild';

/** One exact text rewrite of one client file, and why a single executable needs it. */
export interface SourceRewrite {
  /** Path relative to the repository root. */
  readonly file: string;
  readonly from: string;
  readonly to: string;
  readonly why: string;
}

/** The rewrites, for a given version string. */
export function sourceRewrites(version: string): readonly SourceRewrite[] {
  return [
    {
      file: 'client/tunnel-connection.ts',
      from: "createRequire(import.meta.url)('ws')",
      to: "require('ws')",
      why: 'a require made by createRequire is invisible to the bundler, and there is no node_modules next to the executable: a plain require lets esbuild bundle ws',
    },
  ];
}

/** Applies the rewrites of one file; throws when one does not match exactly once. */
export function rewriteSource(file: string, source: string, rewrites: readonly SourceRewrite[]): string {
  let out = source;
  for (const rewrite of rewrites.filter((r) => r.file === file)) {
    const count = out.split(rewrite.from).length - 1;
    if (count !== 1) {
      throw new Error(`release bundle: expected ${JSON.stringify(rewrite.from)} exactly once in ${file}, found it ${count} times; `
        + `the client changed, so update release/bundle.ts (this rewrite exists because ${rewrite.why})`);
    }
    out = out.replace(rewrite.from, () => rewrite.to);
  }
  return out;
}

function rewritePlugin(root: string, rewrites: readonly SourceRewrite[]): Plugin {
  const files = new Set(rewrites.map((r) => r.file));
  return {
    name: 'kube-rpf-sea-rewrites',
    setup(builder) {
      builder.onLoad({ filter: /[\\/]client[\\/][^\\/]+\.ts$/ }, (args) => {
        const file = relative(root, args.path).split('\\').join('/');
        if (!files.has(file)) return undefined;
        return { contents: rewriteSource(file, readFileSync(args.path, 'utf8'), rewrites), loader: 'ts' };
      });
    },
  };
}

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
    plugins: [rewritePlugin(root, sourceRewrites(version))],
  });
}
