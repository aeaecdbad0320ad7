// rpf-server's flags for admission and the sandbox policy (issue 11):
// defaults, values, and errors with their field.
import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildConfig, OptionsError, usage } from '../../server/options.ts';

const dir = mkdtempSync(join(tmpdir(), 'rpf-admission-options-'));
const file = join(dir, 'x.pem');
writeFileSync(file, 'x');
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

const required = [`--tls-cert-file=${file}`, `--tls-private-key-file=${file}`, `--agent-ca-file=${file}`, `--agent-client-cert-file=${file}`, `--agent-client-key-file=${file}`];

test('admission webhooks are on and the well-known VM runtimes are sandboxed by default', (t) => {
  const config = buildConfig(required);
  t.true(config.admissionWebhooks);
  t.deepEqual(config.sandboxedRuntimeHandlers, ['kata', 'kata-*', 'runsc', 'runsc-*', 'gvisor', 'gvisor-*', 'firecracker', 'firecracker-*', 'fc']);
});

test('both can be set by flag or environment, and an empty handler list sandboxes nothing', (t) => {
  const config = buildConfig([...required, '--admission-webhooks=false', '--sandboxed-runtime-handlers=my-vm-*, runsc']);
  t.false(config.admissionWebhooks);
  t.deepEqual(config.sandboxedRuntimeHandlers, ['my-vm-*', 'runsc']);
  t.deepEqual(buildConfig([...required, '--sandboxed-runtime-handlers=']).sandboxedRuntimeHandlers, []);
  t.false(buildConfig(required, { RPF_ADMISSION_WEBHOOKS: 'false' }).admissionWebhooks);
});

test('bad values are reported with their fields, together', (t) => {
  const err = t.throws(() => buildConfig([...required, '--admission-webhooks=maybe', '--sandboxed-runtime-handlers=kata,a/b']), { instanceOf: OptionsError });
  t.deepEqual((err as OptionsError).errors.map((e) => e.field).sort(), ['admissionWebhooks', 'sandboxedRuntimeHandlers']);
});

test('--help lists both flags', (t) => {
  t.regex(usage(), /--admission-webhooks/);
  t.regex(usage(), /--sandboxed-runtime-handlers/);
});
