// KEP-5695's first stories on the real cluster: a process in a pod reaches a
// server on this machine through `kubectl rpf`, over 127.0.0.1 and [::1], with
// any mapping of remote to local ports.
import test from 'ava';
import { createNamespace, deleteNamespace, kubectl, kubectlOk, startTestbox } from './helpers/cluster.ts';
import { startHttpServer } from './helpers/local-server.ts';
import { startRpf } from './helpers/rpf.ts';

let namespace: string;

test.before(async () => {
  namespace = await createNamespace('rpf-fwd');
  await startTestbox(namespace, 'app');
});

test.after.always(async () => {
  if (namespace) await deleteNamespace(namespace);
});

async function fetchInPod(url: string): Promise<{ code: number; body: string; stderr: string }> {
  const result = await kubectl(['exec', '-n', namespace, 'app', '--', 'wget', '-qO-', url]);
  return { code: result.code, body: result.stdout, stderr: result.stderr };
}

test.serial('a pod fetches a page from this machine over 127.0.0.1 and [::1]', async (t) => {
  const web = await startHttpServer('hello from the laptop\n');
  const rpf = await startRpf(['-n', namespace, 'app', `8080:${web.port}`], 2);
  try {
    t.deepEqual(
      rpf.forwarding.map((f) => `${f.address}:${f.remotePort}->${f.localPort}`).sort(),
      [`127.0.0.1:8080->${web.port}`, `::1:8080->${web.port}`],
    );
    t.true(rpf.forwarding.every((f) => f.pod === `${namespace}/app`));
    const v4 = await fetchInPod('http://127.0.0.1:8080/');
    t.is(v4.body, 'hello from the laptop\n', v4.stderr);
    const v6 = await fetchInPod('http://[::1]:8080/');
    t.is(v6.body, 'hello from the laptop\n', v6.stderr);
    t.regex(rpf.stdout(), /Handling connection for 8080/);
  } finally {
    const exit = await rpf.stop();
    await web.close();
    t.is(exit.code, 0, rpf.stderr());
  }
});

test.serial('two ports in one session map to different local servers', async (t) => {
  const a = await startHttpServer('service A\n');
  const b = await startHttpServer('service B\n');
  const rpf = await startRpf(['-n', namespace, 'pod/app', `9001:${a.port}`, `9002:${b.port}`], 4);
  try {
    t.is((await fetchInPod('http://127.0.0.1:9001/')).body, 'service A\n');
    t.is((await fetchInPod('http://127.0.0.1:9002/')).body, 'service B\n');
  } finally {
    await rpf.stop();
    await a.close();
    await b.close();
  }
});

test.serial('a lone port means the same port on both sides', async (t) => {
  const web = await startHttpServer('same port\n');
  const rpf = await startRpf(['-n', namespace, 'app', String(web.port)], 2);
  try {
    t.true(rpf.forwarding.every((f) => f.remotePort === web.port && f.localPort === web.port));
    t.is((await fetchInPod(`http://127.0.0.1:${web.port}/`)).body, 'same port\n');
  } finally {
    await rpf.stop();
    await web.close();
  }
});

test.serial('0:LOCAL gets a free port in the pod, reported and working', async (t) => {
  const web = await startHttpServer('picked port\n');
  const rpf = await startRpf(['-n', namespace, 'app', `0:${web.port}`], 2);
  try {
    const ports = new Set(rpf.forwarding.map((f) => f.remotePort));
    t.is(ports.size, 1, 'both loopback listeners share the picked port');
    const [port] = [...ports];
    t.true(port! > 0);
    t.is((await fetchInPod(`http://127.0.0.1:${port}/`)).body, 'picked port\n');
    t.is((await fetchInPod(`http://[::1]:${port}/`)).body, 'picked port\n');
  } finally {
    await rpf.stop();
    await web.close();
  }
});

test.serial('two 0:LOCAL specs get two different ports, each reaching its own server', async (t) => {
  const a = await startHttpServer('first\n');
  const b = await startHttpServer('second\n');
  const rpf = await startRpf(['-n', namespace, 'app', `0:${a.port}`, `0:${b.port}`], 4);
  try {
    const portFor = (local: number) => rpf.forwarding.find((f) => f.localPort === local && f.address === '127.0.0.1')!.remotePort;
    t.not(portFor(a.port), portFor(b.port));
    t.is((await fetchInPod(`http://127.0.0.1:${portFor(a.port)}/`)).body, 'first\n');
    t.is((await fetchInPod(`http://127.0.0.1:${portFor(b.port)}/`)).body, 'second\n');
  } finally {
    await rpf.stop();
    await a.close();
    await b.close();
  }
});

test.serial('--address 0.0.0.0 exposes the listener to other pods (the admin holds the expose verb)', async (t) => {
  await startTestbox(namespace, 'neighbour');
  const web = await startHttpServer('reachable from the neighbour\n');
  const rpf = await startRpf(['-n', namespace, '--address', '0.0.0.0', 'app', `8090:${web.port}`], 1);
  try {
    t.is(rpf.forwarding[0]?.address, '0.0.0.0');
    const appIP = (await kubectlOk(['get', 'pod', 'app', '-n', namespace, '-o', 'jsonpath={.status.podIP}'])).trim();
    const result = await kubectl(['exec', '-n', namespace, 'neighbour', '--', 'wget', '-qO-', `http://${appIP}:8090/`]);
    t.is(result.stdout, 'reachable from the neighbour\n', result.stderr);
  } finally {
    await rpf.stop();
    await web.close();
  }
});
