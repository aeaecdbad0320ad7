// `npm run bench:doc`: writes docs/benchmarks.md from .bench/results.json.
//
//   node test/bench/doc.ts            render from .bench/results.json
//   node test/bench/doc.ts --check    exit 1 if docs/benchmarks.md is not what the
//                                     generator makes of the results embedded in it
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot } from '../e2e/helpers/cluster.ts';
import { embeddedResults, renderDoc } from './lib/doc-render.ts';
import type { Results } from './lib/results.ts';

/** The generated document. */
export const DOC_FILE = path.join(repoRoot, 'docs/benchmarks.md');
const RESULTS_FILE = path.join(repoRoot, '.bench/results.json');

const { values } = parseArgs({ options: { check: { type: 'boolean', default: false } } });
if (values.check) {
  const doc = await readFile(DOC_FILE, 'utf8');
  const results = embeddedResults(doc);
  if (results === undefined || renderDoc(results) !== doc) {
    process.stderr.write('docs/benchmarks.md is not what test/bench/doc.ts generates: run npm run bench:doc\n');
    process.exitCode = 1;
  }
} else {
  let results: Results;
  try {
    results = JSON.parse(await readFile(RESULTS_FILE, 'utf8')) as Results;
  } catch (error) {
    throw new Error(`cannot read ${path.relative(repoRoot, RESULTS_FILE)}: run npm run bench first (${(error as Error).message})`);
  }
  await writeFile(DOC_FILE, renderDoc(results));
  process.stdout.write(`wrote ${path.relative(process.cwd(), DOC_FILE)} from ${path.relative(process.cwd(), RESULTS_FILE)} (run of ${results.meta.startedAt})\n`);
}
