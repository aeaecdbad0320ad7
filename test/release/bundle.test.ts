// The bundle's source rewrites: exact, counted, and still matching the client.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { rewriteSource, sourceRewrites } from '../../release/bundle.ts';
import { repoRoot } from './helpers/release.ts';

const rewrites = sourceRewrites('1.2.3');

test('every rewrite still matches the client source exactly once', (t) => {
  for (const file of new Set(rewrites.map((r) => r.file))) {
    const source = readFileSync(path.join(repoRoot, file), 'utf8');
    t.notThrows(() => rewriteSource(file, source, rewrites), file);
  }
});

test('a rewrite that no longer matches fails the build, naming the file and why', (t) => {
  const error = t.throws(() => rewriteSource('client/tunnel-connection.ts', 'import WebSocket from "ws";\n', rewrites));
  t.regex(error.message, /client\/tunnel-connection\.ts, found it 0 times/);
  t.regex(error.message, /update release\/bundle\.ts/);
});

test('a rewrite that matches twice fails too, rather than guessing', (t) => {
  const twice = "createRequire(import.meta.url)('ws');\ncreateRequire(import.meta.url)('ws');\n";
  t.throws(() => rewriteSource('client/tunnel-connection.ts', twice, rewrites), { message: /found it 2 times/ });
});

test('files without rewrites pass through unchanged', (t) => {
  t.is(rewriteSource('client/port-spec.ts', 'anything\n', rewrites), 'anything\n');
});
