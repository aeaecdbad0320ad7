// Runs inside a pod's network namespace (started by `nsenter --net=...`), opens
// the listening sockets the agent asks for, and hands each one back over Node's
// IPC channel. Nothing else happens here: the agent accepts the connections
// itself, so this process exits as soon as its work is done.
import net from 'node:net';

/** A request from the agent: listen on address:port (0 = any free port). */
export interface ListenRequest {
  type: 'listen';
  id: number;
  address: string;
  port: number;
}

/** The answer: either a listening server (sent as the message's handle) or an error. */
export type ListenReply =
  | { type: 'listening'; id: number; address: string; port: number }
  | { type: 'failed'; id: number; address: string; port: number; code: string; message: string };

function listen(request: ListenRequest): void {
  const server = net.createServer();
  server.once('error', (error: NodeJS.ErrnoException) => {
    const reply: ListenReply = {
      type: 'failed',
      id: request.id,
      address: request.address,
      port: request.port,
      code: error.code ?? 'UNKNOWN',
      message: error.message,
    };
    process.send?.(reply);
  });
  // exclusive: the socket must not be shared through Node's cluster module.
  server.listen({ host: request.address, port: request.port, exclusive: true }, () => {
    const { port } = server.address() as net.AddressInfo;
    const reply: ListenReply = { type: 'listening', id: request.id, address: request.address, port };
    // keepOpen: false lets Node close our copy once the agent has its own.
    process.send?.(reply, server, { keepOpen: false }, () => server.close());
  });
}

if (process.send) {
  process.on('message', (message: ListenRequest | { type: 'exit' }) => {
    if (message.type === 'listen') listen(message);
    else process.exit(0);
  });
  // The agent going away (channel closed) ends the helper too.
  process.on('disconnect', () => process.exit(0));
} else {
  process.stderr.write('listener-helper: must be started by rpf-agent with an IPC channel\n');
  process.exit(2);
}
