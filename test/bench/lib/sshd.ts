// The ssh -R path: a private sshd on 127.0.0.1 (its own config, port, a
// throwaway host key and user key, nothing of the system's sshd setup), and
// `ssh -R` sessions against it. openssh-server comes from Debian's packages
// when it is missing; the package's service never starts (policy-rc.d) and is
// not used.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { startProcess, type Started } from './processes.ts';

const execFileAsync = promisify(execFile);
const SSHD = '/usr/sbin/sshd';

/** A running private sshd. */
export interface PrivateSshd {
  readonly port: number;
  readonly process: Started;
  /** `ssh` arguments that log in to it, up to (not including) the forward. */
  sshArgs(): string[];
  /** Stops sshd and removes its keys and config. */
  close(): Promise<void>;
}

/** Installs openssh-server and openssh-client with apt-get when sshd or ssh is missing. */
export async function ensureOpenSsh(log: (line: string) => void): Promise<void> {
  if (existsSync(SSHD) && existsSync('/usr/bin/ssh') && existsSync('/usr/bin/ssh-keygen')) return;
  log('installing openssh-server and openssh-client (apt-get)');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => execFileAsync('apt-get', ['install', '-y', '-q', '--no-install-recommends', 'openssh-server', 'openssh-client'], { env, maxBuffer: 16 << 20 });
  try {
    await install();
  } catch {
    await execFileAsync('apt-get', ['update', '-q'], { env, maxBuffer: 16 << 20 });
    await install();
  }
}

/** A TCP port on 127.0.0.1 that is free right now. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`sshd did not listen on 127.0.0.1:${port} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Starts sshd on a free loopback port with fresh keys; only the user key it makes can log in. */
export async function startPrivateSshd(): Promise<PrivateSshd> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'kube-rpf-bench-ssh-'));
  const hostKey = path.join(dir, 'host_ed25519');
  const userKey = path.join(dir, 'user_ed25519');
  await execFileAsync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'kube-rpf-bench-host', '-f', hostKey]);
  await execFileAsync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'kube-rpf-bench-user', '-f', userKey]);
  await writeFile(path.join(dir, 'authorized_keys'), await readFile(`${userKey}.pub`), { mode: 0o600 });
  const port = await freePort();
  const config = path.join(dir, 'sshd_config');
  await writeFile(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      `PidFile ${path.join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      'UsePAM no',
      // The key files live in a temporary folder that sshd would find too open.
      'StrictModes no',
      'AllowTcpForwarding remote',
      'GatewayPorts no',
      'X11Forwarding no',
      'PermitTTY no',
      'PrintMotd no',
      'UseDNS no',
      'LogLevel ERROR',
      '',
    ].join('\n'),
  );
  // sshd's privilege separation needs this folder; Debian's init script would make it.
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  const sshd = startProcess(SSHD, ['-D', '-e', '-f', config]);
  try {
    await waitForPort(port, 10_000);
  } catch (error) {
    await sshd.stop();
    throw new Error(`${(error as Error).message}: ${sshd.stderr()}`);
  }
  const user = os.userInfo().username;
  return {
    port,
    process: sshd,
    sshArgs: () => [
      '-N',
      '-T',
      '-o', 'BatchMode=yes',
      '-o', 'StrictHostKeyChecking=no',
      '-o', 'UserKnownHostsFile=/dev/null',
      '-o', 'ExitOnForwardFailure=yes',
      '-o', 'LogLevel=INFO',
      '-o', 'IdentitiesOnly=yes',
      '-F', '/dev/null',
      '-i', userKey,
      '-p', String(port),
      `${user}@127.0.0.1`,
    ],
    async close() {
      await sshd.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A running `ssh -R` session: the listener it made sshd open, and the ssh process. */
export interface SshForward {
  readonly port: number;
  readonly process: Started;
}

/** Starts `ssh -R 127.0.0.1:0:127.0.0.1:LOCAL` and waits until sshd reports the port it allocated. */
export async function startSshForward(sshd: PrivateSshd, localPort: number, timeoutMs = 15_000): Promise<SshForward> {
  const ssh = startProcess('ssh', [...sshd.sshArgs(), '-R', `127.0.0.1:0:127.0.0.1:${localPort}`]);
  try {
    const m = await ssh.waitForLine(/Allocated port (\d+) for remote forward/, timeoutMs);
    return { port: Number(m[1]), process: ssh };
  } catch (error) {
    await ssh.stop();
    throw error;
  }
}
