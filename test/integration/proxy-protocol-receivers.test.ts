/**
 * Receivers that decode the PROXY header, written by no one here, report the
 * client's real address and port: nginx `stream` with `listen …
 * proxy_protocol` answering `$proxy_protocol_addr:$proxy_protocol_port`
 * (ngx_stream_return_module), and HAProxy with `accept-proxy` answering
 * `%[src]:%[src_port]`. For v1 and v2, IPv4 (a client bound to 127.0.0.x)
 * and IPv6 (a client bound to ::1, to Fulcrum on ::1 and on [::]), on both
 * data planes. Each receiver also reports the address the client dialled.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { makeConfig, makeService } from '../../src/config/config.ts';
import { Fulcrum } from '../../src/fulcrum.ts';
import { skipWithoutHaproxy, startHaproxy } from '../helpers/haproxy.ts';
import { dial, readAll } from '../helpers/net.ts';
import { skipWithoutNginx, startNginxStream } from '../helpers/nginx.ts';
import { backendAt } from '../helpers/proxy.ts';

interface Receiver {
  readonly name: string;
  readonly skip: false | string;
  /** Starts one; resolves with its port. */
  start(t: TestContext): Promise<number>;
  /** The request a client sends (HAProxy answers HTTP; nginx answers at once). */
  readonly request: string;
  /** The answer's "client server" text. */
  decoded(answer: string): string;
}

const RECEIVERS: readonly Receiver[] = [
  {
    name: 'nginx stream proxy_protocol',
    skip: skipWithoutNginx,
    start: async (t) => (await startNginxStream(t, (port) => [
      `listen 127.0.0.1:${port} proxy_protocol;`,
      'return "$proxy_protocol_addr:$proxy_protocol_port $proxy_protocol_server_addr:$proxy_protocol_server_port";',
    ])).port,
    request: '',
    decoded: (answer) => answer,
  },
  {
    name: 'HAProxy accept-proxy',
    skip: skipWithoutHaproxy,
    start: (t) => startHaproxy(t, (port) => [
      'global', '  maxconn 100',
      'defaults', '  mode http', '  timeout connect 2s', '  timeout client 5s', '  timeout server 5s',
      'frontend fe', `  bind 127.0.0.1:${port} accept-proxy`,
      '  http-request return status 200 content-type text/plain lf-string "%[src]:%[src_port] %[dst]:%[dst_port]"',
    ]),
    request: 'GET / HTTP/1.0\r\n\r\n',
    decoded: (answer) => {
      assert.match(answer, /^HTTP\/1\.[01] 200/, answer);
      return answer.slice(answer.indexOf('\r\n\r\n') + 4);
    },
  },
];

/** Where Fulcrum listens, the address the client dials, and the one it is bound to (what the receiver must report). */
const PATHS = [
  { name: 'IPv4', listen: '127.0.0.1', dialHost: '127.0.0.1', from: '127.0.0.2' },
  { name: 'IPv6 ::1 to ::1', listen: '::1', dialHost: '::1', from: '::1' },
  { name: 'IPv6 ::1 to [::]', listen: '::', dialHost: '::1', from: '::1' },
  // A dual-stack listener sees an IPv4 client as ::ffff:127.0.0.3; the header says TCP4 with dotted quads.
  { name: 'IPv4 127.0.0.3 to [::]', listen: '::', dialHost: '127.0.0.1', from: '127.0.0.3' },
] as const;

for (const dataPlane of ['native', 'stream'] as const) {
  for (const receiver of RECEIVERS) {
    test(`${dataPlane} plane: ${receiver.name} reports the client's address and port, v1 and v2, IPv4 and IPv6`, { skip: receiver.skip, timeout: 60_000 }, async (t) => {
      const port = await receiver.start(t);
      const services = PATHS.flatMap((p, i) => (['v1', 'v2'] as const).map((version) =>
        makeService({ name: `s${i}-${version}`, listen: { host: p.listen, port: 0 }, backends: [backendAt(port)], health: { intervalMs: 0 }, proxyProtocol: version })));
      const lb = await Fulcrum.start(makeConfig({ admin: { host: '127.0.0.1', port: 0 }, dataPlane, services }));
      t.after(() => lb.destroy());
      for (const [i, p] of PATHS.entries()) {
        for (const version of ['v1', 'v2'] as const) {
          const listenPort = lb.service(`s${i}-${version}`)!.address!.port;
          const client = await dial({ host: p.dialHost, port: listenPort, localAddress: p.from, allowHalfOpen: true });
          const clientPort = client.localPort!;
          const answer = readAll(client);
          client.end(receiver.request);
          const got = receiver.decoded((await answer).toString());
          assert.equal(got, `${p.from}:${clientPort} ${p.dialHost}:${listenPort}`, `${p.name}, ${version}`);
        }
      }
    });
  }
}
