// docs/errors.md lists every error code the components produce, and nothing
// else: this keeps the page and the code tables in step.
import { readFile } from 'node:fs/promises';
import test from 'ava';
import { CLIENT_ERROR_CODES } from '../../client/errors.ts';
import { AGENT_ERROR_CODES } from '../../node-agent/errors.ts';
import { PROTOCOL_ERROR_CODES } from '../../protocol/errors.ts';
import { SERVER_ERROR_CODES } from '../../server/errors.ts';

const tables = { client: CLIENT_ERROR_CODES, server: SERVER_ERROR_CODES, agent: AGENT_ERROR_CODES, protocol: PROTOCOL_ERROR_CODES };

async function documentedCodes(): Promise<Map<string, string>> {
  const page = await readFile(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  const rows = new Map<string, string>();
  for (const line of page.split('\n')) {
    const match = /^\| `(RPF_ERR_[A-Z_]+)` \|(.*)\|$/.exec(line);
    if (match) rows.set(match[1]!, match[2]!);
  }
  return rows;
}

for (const [component, table] of Object.entries(tables)) {
  test(`every ${component} error code is documented with a meaning and a fix`, async (t) => {
    const documented = await documentedCodes();
    for (const code of Object.keys(table)) {
      const row = documented.get(code);
      t.truthy(row, `${code} is missing from docs/errors.md`);
      const cells = (row ?? '').split(' | ').map((cell) => cell.trim());
      t.true(cells.length >= 3 && cells.slice(-2).every((cell) => cell.length > 10), `${code} needs a meaning and a fix`);
    }
  });
}

test('docs/errors.md lists no code that the components no longer have', async (t) => {
  const known = new Set(Object.values(tables).flatMap((table) => Object.keys(table)));
  const stale = [...(await documentedCodes()).keys()].filter((code) => !known.has(code));
  t.deepEqual(stale, []);
});
