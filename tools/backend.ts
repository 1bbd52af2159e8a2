/**
 * A demo and test backend: answers HTTP requests with its own name and echoes
 * anything else back as raw TCP. `--demo` starts three of these; on its own:
 *   tsx tools/backend.ts --port 9001 --name a
 */
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { pathToFileURL } from 'node:url';

export interface DemoBackend {
  readonly name: string;
  readonly address: AddressInfo;
  /** Connections open on the server side (CLOSE_WAIT ones included). */
  connections(): Promise<number>;
  close(): Promise<void>;
}

const HTTP_START = /^(GET|HEAD|POST|PUT|DELETE|PATCH|OPTIONS) /;

function httpServer(name: string): HttpServer {
  const body = `hello from ${name}\n`;
  return createHttpServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body), 'x-backend': name });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
}

/** Starts a backend on `host:port` (port 0 for an ephemeral one). */
export function startDemoBackend(name: string, port = 0, host = '127.0.0.1'): Promise<DemoBackend> {
  const http = httpServer(name);
  const sockets = new Set<Socket>();
  const server: Server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    // allowHalfOpen keeps our side open after the peer's FIN, for echo and HTTP clients that
    // half-close after their request. A peer that sends nothing and hangs up (a TCP health
    // probe) would then sit in CLOSE_WAIT for ever, a descriptor each: close our side too.
    const onEndBeforeData = () => socket.end();
    socket.once('end', onEndBeforeData);
    socket.once('data', (first: Buffer) => {
      socket.off('end', onEndBeforeData);
      if (HTTP_START.test(first.toString('latin1', 0, 8))) {
        // node:http takes over the handle's reads; the sniffed chunk is handed to it by hand.
        http.emit('connection', socket);
        socket.emit('data', first);
        return;
      }
      socket.write(first);
      socket.pipe(socket);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve({
        name,
        address: server.address() as AddressInfo,
        connections: () => new Promise((done, fail) => server.getConnections((err, n) => (err ? fail(err) : done(n)))),
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { default: yargs } = await import('yargs');
  const { hideBin } = await import('yargs/helpers');
  const argv = await yargs(hideBin(process.argv))
    .scriptName('backend')
    .usage('$0 --port N --name NAME: answers HTTP with "hello from NAME", echoes raw TCP')
    .option('port', { type: 'number', default: 0, describe: 'TCP port (0 = ephemeral)' })
    .option('host', { type: 'string', default: '127.0.0.1' })
    .option('name', { type: 'string', default: 'backend' })
    .strict()
    .parseAsync();
  const b = await startDemoBackend(argv.name, argv.port, argv.host);
  console.log(`backend ${b.name} listening on ${b.address.address}:${b.address.port}`);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void b.close().then(() => process.exit(0)));
}
