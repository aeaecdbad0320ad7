// `npm run errors:doc`: writes docs/errors.md from the four error tables
// (client/, server/, node-agent/, protocol/ errors.ts).
//
//   node test/errors-doc/helpers/doc.ts            write docs/errors.md
//   node test/errors-doc/helpers/doc.ts --check    exit 1 if docs/errors.md is not
//                                                  what the generator makes of the tables
//
// It lives in helpers/ (test/bench/doc.ts's counterpart) so that AVA, given
// test/errors-doc/**, never runs it as a test file.
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { renderErrorsDoc } from './doc-render.ts';

/** The generated document. */
export const DOC_FILE = fileURLToPath(new URL('../../../docs/errors.md', import.meta.url));

const { values } = parseArgs({ options: { check: { type: 'boolean', default: false } } });
if (values.check) {
  const doc = await readFile(DOC_FILE, 'utf8').catch(() => undefined);
  if (doc !== renderErrorsDoc()) {
    process.stderr.write('docs/errors.md is not what test/errors-doc/helpers/doc.ts generates: run npm run errors:doc\n');
    process.exitCode = 1;
  }
} else {
  await writeFile(DOC_FILE, renderErrorsDoc());
  process.stdout.write('wrote docs/errors.md from the error tables\n');
}
