import test from 'ava';
import { checkBoolean, checkOneOf, checkReadableFile, fillDefaults, flagOf, flagUsage, formatFieldErrors, parseFlagArgs } from '../../protocol/flags.ts';
import type { FieldError, FlagSpec } from '../../protocol/flags.ts';

type Field = 'port' | 'name' | 'verbose';

const FLAGS: readonly FlagSpec<Field>[] = [
  { flag: 'port', field: 'port', default: '8443', help: 'a port' },
  { flag: 'name', field: 'name', help: 'a name' },
  { flag: 'verbose', field: 'verbose', boolean: true, default: 'false', help: 'talk more' },
];

test('a flag takes its value after = or as the next argument, and a bare boolean is true', (t) => {
  const parsed = parseFlagArgs(FLAGS, ['--port=9000', '--name', 'x', '--verbose']);
  t.deepEqual(parsed.options, { port: '9000', name: 'x', verbose: 'true' });
  t.deepEqual(parsed.errors, []);
  t.false(parsed.help);
});

test('an = with nothing after it is an empty value, not the next argument', (t) => {
  t.deepEqual(parseFlagArgs(FLAGS, ['--name=', '--port=1']).options, { name: '', port: '1' });
});

test('--help and -h are noticed and are not errors', (t) => {
  t.true(parseFlagArgs(FLAGS, ['--help']).help);
  t.true(parseFlagArgs(FLAGS, ['-h']).help);
  t.deepEqual(parseFlagArgs(FLAGS, ['-h']).errors, []);
});

const errorCases: { name: string; argv: string[]; fields: string[] }[] = [
  { name: 'an unknown flag is an error of args', argv: ['--nope=1'], fields: ['args'] },
  { name: 'a stray argument is an error of args', argv: ['stray'], fields: ['args'] },
  { name: 'a value flag at the end with no value is an error of its own field', argv: ['--name'], fields: ['name'] },
  { name: 'every error is reported, in argv order', argv: ['x', '--nope', '--port'], fields: ['args', 'args', 'port'] },
];
for (const c of errorCases) {
  test(`parsing: ${c.name}`, (t) => {
    t.deepEqual(
      parseFlagArgs(FLAGS, c.argv).errors.map((e) => e.field),
      c.fields,
    );
  });
}

test('defaults fill only the options not given, and the input is left alone', (t) => {
  const raw = { port: '1' };
  t.deepEqual(fillDefaults(FLAGS, raw), { port: '1', verbose: 'false' });
  t.deepEqual(raw, { port: '1' });
});

test('flagOf names the flag that fills a field', (t) => {
  t.is(flagOf(FLAGS, 'verbose'), 'verbose');
});

// The `invalid options:` line is the daemons' start-up contract (one line
// naming every bad flag), so its text is asserted here.
test('the options error line names every field and message, in order', (t) => {
  t.is(
    formatFieldErrors([
      { field: 'a', message: 'bad' },
      { field: 'b[1]', message: 'worse' },
    ]),
    'invalid options: a: bad; b[1]: worse',
  );
});

const booleans: { name: string; text: string | undefined; value: boolean; error: boolean }[] = [
  { name: 'true', text: 'true', value: true, error: false },
  { name: '1', text: '1', value: true, error: false },
  { name: 'false', text: 'false', value: false, error: false },
  { name: '0', text: '0', value: false, error: false },
  { name: 'absent', text: undefined, value: false, error: false },
  { name: 'anything else', text: 'maybe', value: false, error: true },
];
for (const c of booleans) {
  test(`a boolean flag given ${c.name} reads as ${String(c.value)}${c.error ? ', with an error on its field' : ''}`, (t) => {
    const errors: FieldError[] = [];
    t.is(checkBoolean(errors, 'verbose', 'verbose', c.text), c.value);
    t.deepEqual(errors.map((e) => e.field), c.error ? ['verbose'] : []);
  });
}

test('a one-of flag accepts a listed word and reports any other on its field', (t) => {
  const errors: FieldError[] = [];
  t.is(checkOneOf(errors, 'level', 'log-level', 'info', ['info', 'debug']), 'info');
  t.deepEqual(errors, []);
  checkOneOf(errors, 'level', 'log-level', 'loud', ['info', 'debug']);
  checkOneOf(errors, 'level', 'log-level', undefined, ['info', 'debug']);
  t.deepEqual(errors.map((e) => e.field), ['level', 'level']);
});

test('a file flag is required only when asked, and must be readable as the caller says', (t) => {
  const errors: FieldError[] = [];
  const canRead = (path: string): boolean => path === '/readable';
  t.is(checkReadableFile(errors, 'optional', 'optional', undefined, { required: false, canRead }), '');
  t.deepEqual(errors, []);
  t.is(checkReadableFile(errors, 'cert', 'cert', '', { required: true, canRead }), '');
  t.is(checkReadableFile(errors, 'key', 'key', '/missing', { required: true, canRead }), '/missing');
  t.is(checkReadableFile(errors, 'ca', 'ca', '/readable', { required: true, canRead }), '/readable');
  t.deepEqual(errors.map((e) => e.field), ['cert', 'key']);
});

test('usage lists every flag, VALUE after all but booleans, with defaults and what the caller adds', (t) => {
  const text = flagUsage(FLAGS, (f) => `; env X_${f.field}`);
  t.true(text.includes('  --port VALUE\n      a port (default 8443); env X_port'));
  t.true(text.includes('  --name VALUE\n      a name; env X_name'));
  t.true(text.includes('  --verbose\n      talk more (default false); env X_verbose'));
  t.false(flagUsage(FLAGS).includes('env'));
});
