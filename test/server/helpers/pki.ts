/**
 * Throwaway certificates for rpf-server tests, made with openssl in a temp
 * directory: a front-proxy CA and its clients (good, wrong CN, wrong usage,
 * via an intermediate), a foreign CA, rpf-server's serving certificate, and
 * an agent CA with the agent's serving and rpf-server's client certificates.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A certificate and its key: file paths and PEM text. */
export interface CertFiles {
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: string;
  readonly key: string;
}

/** Every certificate the server tests use. */
export interface TestPki {
  readonly dir: string;
  readonly frontProxyCa: CertFiles;
  readonly frontProxyClient: CertFiles;
  readonly wrongCnClient: CertFiles;
  readonly serverAuthOnlyClient: CertFiles;
  readonly intermediateCa: CertFiles;
  readonly intermediateClient: CertFiles;
  readonly otherCa: CertFiles;
  readonly otherCaClient: CertFiles;
  readonly servingCa: CertFiles;
  readonly serving: CertFiles;
  readonly agentCa: CertFiles;
  readonly agentServing: CertFiles;
  readonly agentClient: CertFiles;
  readonly agentWrongName: CertFiles;
  cleanup(): void;
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function files(dir: string, name: string): CertFiles {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  return { certFile, keyFile, cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
}

function newKey(dir: string, name: string): string {
  const keyFile = join(dir, `${name}.key`);
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keyFile]);
  return keyFile;
}

function newCa(dir: string, name: string, cn: string): CertFiles {
  const keyFile = newKey(dir, name);
  openssl([
    'req', '-x509', '-new', '-key', keyFile, '-subj', `/CN=${cn}`, '-days', '3650', '-sha256',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
    '-out', join(dir, `${name}.crt`),
  ]);
  return files(dir, name);
}

function newCert(dir: string, name: string, ca: CertFiles, subject: string, ext: string[]): CertFiles {
  const keyFile = newKey(dir, name);
  const csr = join(dir, `${name}.csr`);
  const extFile = join(dir, `${name}.ext`);
  writeFileSync(extFile, `${ext.join('\n')}\n`);
  openssl(['req', '-new', '-key', keyFile, '-subj', subject, '-out', csr]);
  openssl([
    'x509', '-req', '-in', csr, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-CAcreateserial',
    '-days', '3650', '-sha256', '-extfile', extFile, '-out', join(dir, `${name}.crt`),
  ]);
  return files(dir, name);
}

const LEAF = ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment'];
const CLIENT = [...LEAF, 'extendedKeyUsage=clientAuth'];

/** Makes the whole set (about a second of openssl). */
export function makeTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'rpf-server-pki-'));
  const frontProxyCa = newCa(dir, 'front-proxy-ca', 'test-front-proxy-ca');
  const intermediateCa = newCert(dir, 'intermediate-ca', frontProxyCa, '/CN=test-intermediate-ca', [
    'basicConstraints=critical,CA:TRUE',
    'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
  ]);
  const otherCa = newCa(dir, 'other-ca', 'test-other-ca');
  const servingCa = newCa(dir, 'serving-ca', 'test-serving-ca');
  const agentCa = newCa(dir, 'agent-ca', 'test-agent-ca');
  return {
    dir,
    frontProxyCa,
    frontProxyClient: newCert(dir, 'front-proxy-client', frontProxyCa, '/CN=front-proxy-client', CLIENT),
    wrongCnClient: newCert(dir, 'wrong-cn-client', frontProxyCa, '/CN=mallory', CLIENT),
    serverAuthOnlyClient: newCert(dir, 'server-auth-client', frontProxyCa, '/CN=front-proxy-client', [...LEAF, 'extendedKeyUsage=serverAuth']),
    intermediateCa,
    intermediateClient: newCert(dir, 'intermediate-client', intermediateCa, '/CN=front-proxy-client', CLIENT),
    otherCa,
    otherCaClient: newCert(dir, 'other-ca-client', otherCa, '/CN=front-proxy-client', CLIENT),
    servingCa,
    serving: newCert(dir, 'serving', servingCa, '/CN=rpf-server', [...LEAF, 'extendedKeyUsage=serverAuth', 'subjectAltName=DNS:localhost,IP:127.0.0.1']),
    agentCa,
    agentServing: newCert(dir, 'agent-serving', agentCa, '/CN=rpf-agent', [...LEAF, 'extendedKeyUsage=serverAuth', 'subjectAltName=DNS:rpf-agent']),
    agentClient: newCert(dir, 'agent-client', agentCa, '/CN=rpf-server', CLIENT),
    agentWrongName: newCert(dir, 'agent-wrong-name', agentCa, '/CN=not-the-agent', [...LEAF, 'extendedKeyUsage=serverAuth', 'subjectAltName=DNS:not-the-agent']),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
