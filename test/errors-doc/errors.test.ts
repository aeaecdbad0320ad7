// docs/errors.md is generated from the four error tables (STYLE habits 4 and
// 12): this proves the checked-in page is exactly what `npm run errors:doc`
// makes of them, so a code added to a table is documented, a code removed is
// gone from the page, and nobody edits the page by hand.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { ERROR_TABLES, renderErrorsDoc } from './helpers/doc-render.ts';

const doc = fileURLToPath(new URL('../../docs/errors.md', import.meta.url));

test('docs/errors.md is what npm run errors:doc generates from the error tables', (t) => {
  t.true(existsSync(doc), 'docs/errors.md exists (npm run errors:doc)');
  t.is(readFileSync(doc, 'utf8'), renderErrorsDoc(), 'docs/errors.md differs from the generator output: run npm run errors:doc');
});

for (const [component, table] of Object.entries(ERROR_TABLES)) {
  test(`every ${component} error code has a meaning and a fix, and a row of its own in the page`, (t) => {
    const page = renderErrorsDoc();
    for (const [code, info] of Object.entries(table as Record<string, { meaning: string; fix: string }>)) {
      t.true(info.meaning.length > 10 && info.fix.length > 10, `${code} needs a meaning and a fix`);
      t.is(page.split('\n').filter((line) => line.startsWith(`| \`${code}\` |`)).length, 1, `${code} has one row`);
    }
  });
}

test('a table row renders as one line with its pipes escaped, and status 0 as "-"', (t) => {
  const page = renderErrorsDoc({
    client: {},
    server: { RPF_ERR_SERVER_X: { status: 0, reason: 'InternalError', meaning: 'a | b', fix: 'one\ntwo' } },
    agent: {},
    protocol: {},
  });
  t.true(page.includes('| `RPF_ERR_SERVER_X` | - | InternalError | a \\| b | one two |\n'));
});
