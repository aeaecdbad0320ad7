// docs/benchmarks.md is generated (STYLE habit 12): this proves the checked-in
// file is exactly what the generator makes of the results embedded in it, so
// nobody edits it by hand and a generator change is followed by bench:doc.
// It reads no benchmark and runs none.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { repoRoot } from '../e2e/helpers/cluster.ts';
import { embeddedResults, renderDoc } from './lib/doc-render.ts';

const doc = path.join(repoRoot, 'docs/benchmarks.md');

test('docs/benchmarks.md is what npm run bench:doc generates from the results it embeds', (t) => {
  t.true(existsSync(doc), 'docs/benchmarks.md exists (npm run bench, then npm run bench:doc)');
  const text = readFileSync(doc, 'utf8');
  const results = embeddedResults(text);
  t.truthy(results, 'the document embeds the results it was rendered from');
  t.is(renderDoc(results!), text, 'docs/benchmarks.md differs from the generator output: run npm run bench:doc');
});
