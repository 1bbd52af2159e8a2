/**
 * The raw plane's listening socket, as a Port (port.ts): `net.Server` binds
 * (so errors and node:cluster work as usual), then its handle's
 * `onconnection`, which Node calls with each accepted raw handle (see
 * native.ts), is ours and hands the handle to the port's current target: a
 * listener (the plain path) or the acceptor that reads first bytes.
 */
import { createServer, type AddressInfo } from 'node:net';
import type { HostPort } from '../config/parse.ts';
import type { Logger } from '../observability/log.ts';
import { RawAcceptor, type RawFirstBytes, type RawMember } from './accept-first-bytes.ts';
import { errnoName, type TcpHandle } from './native.ts';
import { Port, type AcceptTarget } from './port.ts';

/** The listening handle as net.Server keeps it (`server._handle`), with our back-reference. */
interface ServerHandle {
  /** Absent on the stand-in handle of a cluster worker under round-robin scheduling. */
  setNoDelay?: (on: boolean) => number;
  onconnection: (this: ServerHandle, status: number, client: TcpHandle | undefined) => void;
  /** Where connections go: a listener (the plain path), or its port's acceptor. */
  proxy?: AcceptTarget<TcpHandle>;
}

/** A listening socket on the raw plane, as a port with no member yet. */
export function listenRaw(address: HostPort, log: Logger): Promise<Port<TcpHandle, RawMember>> {
  const server = createServer();
  server.on('error', (err) => log.error({ err }, 'proxy listener error'));
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen({ host: address.host, port: address.port, backlog: 4096 }, () => {
      server.off('error', onError);
      const handle = (server as unknown as { _handle?: ServerHandle | null })._handle;
      if (!handle || typeof handle.onconnection !== 'function') {
        server.close();
        return reject(new Error(`fulcrum: net.Server on this Node (${process.version}) has no _handle.onconnection to take connections from`));
      }
      handle.onconnection = onConnection;
      const noDelayInherited = process.platform === 'linux' && handle.setNoDelay?.(true) === 0;
      const pending = new Set<RawFirstBytes>();
      const port: Port<TcpHandle, RawMember> = new Port(server.address() as AddressInfo, noDelayInherited, {
        acceptor: (p, plan) => new RawAcceptor(p, plan, pending),
        retarget: (target) => void (handle.proxy = target),
        closeServer: () => new Promise<void>((r) => (server.listening ? server.close(() => r()) : r())),
        dropPending: () => {
          for (const reader of [...pending]) reader.drop();
        },
      });
      resolve(port);
    });
  });
}

function onConnection(this: ServerHandle, status: number, client: TcpHandle | undefined): void {
  const listener = this.proxy!;
  if (status !== 0 || client === undefined) {
    // As net.Server would emit it (EMFILE and the like); the listener keeps accepting.
    listener.stats.acceptErrors++;
    listener.limited.error('accept', { code: errnoName(status) }, 'proxy listener accept failed');
    return;
  }
  try {
    listener.accepted(client);
  } catch (err) {
    listener.log.error({ err }, 'data plane error: connection dropped at accept');
    client.close();
  }
}
