/**
 * A scriptable TCP backend for data-plane tests: each accepted connection is
 * handed to a behaviour, chosen per connection number, so a test can say
 * "echo, but reset the 2nd connection".
 */
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';

export type Behaviour = (socket: Socket, n: number) => void;

export const echo: Behaviour = (s) => s.pipe(s);

export interface TestBackend {
  readonly port: number;
  readonly server: Server;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Resolves with the next accepted socket. */
  nextConnection(): Promise<Socket>;
  close(): Promise<void>;
}

export async function startBackend(behaviour: Behaviour = echo): Promise<TestBackend> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    behaviour(socket, accepted);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    server,
    get accepted() {
      return accepted;
    },
    nextConnection: async () => (await once(server, 'connection'))[0] as Socket,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
