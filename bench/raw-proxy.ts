/**
 * The floor for a Node proxy on raw TCP handles (src/proxy/native.ts), the
 * layer Fulcrum's data plane runs on: accept, connect, relay through one
 * shared buffer, pass the first FIN on, close both at the second, and
 * nothing else (no strategy, retries, timeouts or counters). What it costs
 * per connection is what Node and libuv cost; Fulcrum's own work is the
 * difference. Usage: node --import tsx bench/raw-proxy.ts LISTEN_PORT BACKEND_PORT [BACKEND_HOST]
 */
import { writeSync } from 'node:fs';
import { createServer } from 'node:net';
import { ShutdownWrap, TCPConnectWrap, UV_EOF, kReadBytesOrError, nativeProblem, newSocketHandle, streamBaseState, type TcpHandle } from '../src/proxy/native.ts';

// native.ts loads the internals on first use, not on import.
const problem = nativeProblem();
if (problem !== undefined) throw new Error(`raw-proxy: ${problem}`);

type Side = TcpHandle & { peer: Side; ended?: boolean };

const [listenPort, backendPort, backendHost = '127.0.0.1'] = process.argv.slice(2);
const shared = Buffer.allocUnsafeSlow(64 * 1024);

function closeBoth(side: Side): void {
  side.close();
  side.peer.close();
}

function onRead(this: Side): void {
  const n = streamBaseState[kReadBytesOrError]!;
  if (n > 0) {
    try {
      // Enough for a floor: a peer too slow to take a whole chunk at once is dropped, not waited for.
      if (writeSync(this.peer.fd, shared, 0, n) !== n) closeBoth(this);
    } catch {
      closeBoth(this);
    }
  } else if (n === UV_EOF) {
    this.ended = true;
    if (this.peer.ended) return closeBoth(this);
    const req = new ShutdownWrap();
    req.oncomplete = () => undefined;
    this.peer.shutdown(req);
  } else if (n < 0) closeBoth(this);
}

function onConnect(status: number, upstream: Side): void {
  if (status !== 0) return closeBoth(upstream);
  upstream.peer.useUserBuffer(shared);
  upstream.peer.onread = onRead;
  upstream.peer.readStart();
}

const server = createServer();
server.listen(Number(listenPort), '127.0.0.1', 4096, () => {
  const handle = (server as unknown as { _handle: { setNoDelay(on: boolean): number; onconnection: unknown } })._handle;
  handle.setNoDelay(true);
  handle.onconnection = (status: number, client: Side) => {
    if (status !== 0) return;
    const upstream = newSocketHandle() as Side;
    upstream.peer = client;
    client.peer = upstream;
    upstream.setNoDelay(true);
    upstream.useUserBuffer(shared);
    upstream.onread = onRead;
    const req = new TCPConnectWrap();
    req.oncomplete = onConnect as never;
    if (upstream.connect(req, backendHost, Number(backendPort)) || upstream.readStart()) closeBoth(upstream);
  };
});
