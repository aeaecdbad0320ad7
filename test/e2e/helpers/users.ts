// Users of the local cluster with client certificates signed by its CA, the
// way a real cluster's users authenticate. RBAC decides what each may do.
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { scratchDir } from '../../helpers/scratch-dir.ts';
import { clusterDir } from './cluster.ts';

const execFileAsync = promisify(execFile);

/** A user of the cluster: its name and a kubeconfig that authenticates as it. */
export interface ClusterUser {
  name: string;
  kubeconfig: string;
}

/** Issues a client certificate for `name` (and `groups`) and writes a kubeconfig for it. */
export async function createUser(name: string, groups: string[] = []): Promise<ClusterUser> {
  const dir = scratchDir('kube-rpf-user-');
  const key = path.join(dir, 'user.key');
  const csr = path.join(dir, 'user.csr');
  const crt = path.join(dir, 'user.crt');
  const subject = [...groups.map((g) => `/O=${g}`), `/CN=${name}`].join('');
  await execFileAsync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key]);
  await execFileAsync('openssl', ['req', '-new', '-utf8', '-key', key, '-subj', subject, '-out', csr]);
  const ext = path.join(dir, 'ext');
  await writeFile(ext, 'extendedKeyUsage=clientAuth\n');
  await execFileAsync('openssl', [
    'x509', '-req', '-in', csr, '-CA', path.join(clusterDir, 'pki/ca.crt'), '-CAkey', path.join(clusterDir, 'pki/ca.key'),
    '-CAcreateserial', '-CAserial', path.join(dir, 'ca.srl'), '-days', '1', '-sha256', '-extfile', ext, '-out', crt,
  ]);
  const admin = await readFile(path.join(clusterDir, 'admin.kubeconfig'), 'utf8');
  const server = /server: (\S+)/.exec(admin)?.[1];
  const caData = /certificate-authority-data: (\S+)/.exec(admin)?.[1];
  if (!server || !caData) throw new Error('cannot read server and CA from the admin kubeconfig');
  const b64 = async (file: string) => (await readFile(file)).toString('base64');
  const kubeconfig = path.join(dir, 'kubeconfig');
  await writeFile(
    kubeconfig,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: kube-rpf',
      '  cluster:',
      `    server: ${server}`,
      `    certificate-authority-data: ${caData}`,
      'users:',
      `- name: ${name}`,
      '  user:',
      `    client-certificate-data: ${await b64(crt)}`,
      `    client-key-data: ${await b64(key)}`,
      'contexts:',
      '- name: kube-rpf',
      '  context:',
      '    cluster: kube-rpf',
      `    user: ${name}`,
      'current-context: kube-rpf',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  return { name, kubeconfig };
}
