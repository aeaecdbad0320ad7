// The client end of the data-plane microbenchmark: kubectl-rpf's real code,
// openTunnel (client/tunnel-connection.ts) with a kubeconfig pointing at the
// relay, and a Forwarder (client/forwarder.ts) dialing the local service for
// every channel the agent opens.
//
//   node dataplane-client.ts --root DIR --kubeconfig FILE --service-port N
//
// Prints `{"event":"ready","podPort":N}` once the agent reported its listener.
import type * as Forwarding from '../../../client/forwarder.ts';
import type * as Kube from '../../../client/kube.ts';
import type * as Connection from '../../../client/tunnel-connection.ts';
import { argument, countGc, loadFrom, report, serveStats } from './dataplane-child.ts';

const gc = countGc();
const root = argument('root');
const { loadKubeContext } = await loadFrom<typeof Kube>(root, 'client/kube.ts');
const { openTunnel } = await loadFrom<typeof Connection>(root, 'client/tunnel-connection.ts');
const { Forwarder } = await loadFrom<typeof Forwarding>(root, 'client/forwarder.ts');

const pod = { namespace: 'bench', name: 'bench' };
const context = loadKubeContext({ kubeconfig: argument('kubeconfig') });
let forwarder: Forwarding.Forwarder | undefined;
const tunnel = await openTunnel({
  context,
  pod,
  ports: [0],
  addresses: ['127.0.0.1'],
  setup: (session) => {
    forwarder = new Forwarder({ session, pod, mappings: [{ remote: 0, local: Number(argument('service-port')) }], localHost: '127.0.0.1' });
  },
});
tunnel.session.on('close', (error) => {
  report({ event: 'closed', error: error?.message });
  process.exit(1);
});
const listeners = await forwarder!.listening;
report({ event: 'ready', podPort: listeners[0]?.remotePort });
serveStats(gc);
