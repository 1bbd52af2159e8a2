/**
 * `acceptProxy: true` on a service: the PROXY header (v1 or v2) a balancer
 * in front sends is read first, and its source is the client for everything
 * downstream. HAProxy (`send-proxy`, `send-proxy-v2` on its server line) is
 * the sender nobody here wrote; the client dials it from 127.0.0.2.., so
 * HAProxy's own address (127.0.0.1) cannot pass for the client's. Refusals
 * (untrusted source, garbage, a header too long or too late) are closed and
 * counted. Runs on both data planes.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { makeConfig, makeService, type ServiceConfig } from '../../src/config/config.ts';
import { parseCidr } from '../../src/config/cidr.ts';
import { Fulcrum } from '../../src/fulcrum.ts';
import type { Logger } from '../../src/observability/log.ts';
import { encodeProxyV1, encodeProxyV2, encodeProxyV2Local } from '../../src/proxy/first-bytes/proxy-encode.ts';
import { startDemoBackend, type DemoBackend } from '../../tools/backend.ts';
import { startBackend } from '../helpers/fault-backend.ts';
import { freePort, skipWithoutHaproxy, startHaproxy } from '../helpers/haproxy.ts';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { closed, dial, httpGet, readAll, readBytes, refusedPort, sha256 } from '../helpers/net.ts';
import { backendAt } from '../helpers/proxy.ts';
import { until } from '../helpers/wait.ts';

const loopback = { host: '127.0.0.1', port: 0 };
const T = { timeout: 30_000 };

function captureLog(): { log: Logger; lines: any[] } {
  const lines: any[] = [];
  return { log: pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s)) }), lines };
}

async function start(t: TestContext, dataPlane: 'native' | 'stream', services: ServiceConfig[], log?: Logger): Promise<Fulcrum> {
  const lb = await Fulcrum.start(makeConfig({ admin: loopback, dataPlane, services }), log ? { log } : {});
  t.after(() => lb.destroy());
  return lb;
}

const svc = (name: string, backends: { host: string; port: number; weight: number }[], extra: Partial<ServiceConfig> = {}) =>
  makeService({ name, listen: loopback, algo: 'round-robin', backends, health: { intervalMs: 0 }, ...extra });

/** HAProxy in TCP mode in front of `port`, with `serverOptions` on its server line. */
function haproxyInFront(t: TestContext, port: number, serverOptions: string): Promise<number> {
  return startHaproxy(t, (front) => [
    'global', '  maxconn 100',
    'defaults', '  mode tcp', '  timeout connect 2s', '  timeout client 5s', '  timeout server 5s',
    'frontend fe', `  bind 127.0.0.1:${front}`, '  default_backend be',
    'backend be', `  server s1 127.0.0.1:${port} ${serverOptions}`,
  ]);
}

async function demos(t: TestContext, ...names: string[]): Promise<DemoBackend[]> {
  const list = await Promise.all(names.map((n) => startDemoBackend(n)));
  t.after(() => Promise.all(list.map((b) => b.close())));
  return list;
}

const STREAM_MODULE = '/usr/lib/nginx/modules/ngx_stream_module.so';
const skipWithoutNginx: false | string = spawnSync('nginx', ['-v']).status === 0 && existsSync(STREAM_MODULE) ? false : 'nginx with its stream module is not installed here';

/** nginx `stream`, `listen … proxy_protocol`, answering each connection with the client and destination the header carried. */
async function nginxReceiver(t: TestContext): Promise<number> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fulcrum-nginx-'));
  const conf = path.join(dir, 'nginx.conf');
  writeFileSync(conf, [
    `load_module ${STREAM_MODULE};`, 'daemon off;', 'master_process off;', `pid ${dir}/nginx.pid;`, `error_log ${dir}/error.log;`,
    'events {}',
    'stream {', '  server {', `    listen 127.0.0.1:${port} proxy_protocol;`,
    '    return "$proxy_protocol_addr:$proxy_protocol_port $proxy_protocol_server_addr:$proxy_protocol_server_port";', '  }', '}', '',
  ].join('\n'));
  const child = spawn('nginx', ['-p', dir, '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  t.after(() => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  await until(`nginx listening (${stderr})`, () => new Promise<true | undefined>((r) => {
    if (child.exitCode !== null) return r(undefined);
    const s = net.connect(port, '127.0.0.1', () => (s.destroy(), r(true))).on('error', () => r(undefined));
  }));
  return port;
}

const CLIENTS = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6', '127.0.0.7', '127.0.0.8', '127.0.0.9'];

for (const dataPlane of ['native', 'stream'] as const) {
  for (const send of ['send-proxy', 'send-proxy-v2'] as const) {
    test(`${dataPlane}: HAProxy ${send} in front: sih hashes HAProxy's client (127.0.0.2..9), not HAProxy, as for the same clients dialling directly`, { ...T, skip: skipWithoutHaproxy }, async (t) => {
      const backends = (await demos(t, 'a', 'b', 'c')).map((b) => backendAt(b.address.port));
      const lb = await start(t, dataPlane, [
        svc('behind', backends, { algo: 'source-ip-hash', acceptProxy: true, trustedProxies: [parseCidr('t', '127.0.0.1')] }),
        svc('direct', backends, { algo: 'source-ip-hash' }),
      ]);
      const front = await haproxyInFront(t, lb.service('behind')!.address!.port, send);
      const direct = lb.service('direct')!.address!.port;
      const seen = new Set<string>();
      for (const ip of CLIENTS) {
        const via = (await httpGet(front, ip)).trim();
        seen.add(via);
        assert.equal(via, (await httpGet(direct, ip)).trim(), `client ${ip}`);
      }
      // Keyed on HAProxy's own address, every client would land on one backend.
      assert.ok(seen.size > 1, `8 clients through HAProxy reached ${[...seen].join(', ')}`);
      assert.equal(lb.service('behind')!.stats.rejectedProxyHeader, 0);
    });

    test(`${dataPlane}: HAProxy ${send} in front, proxyProtocol v1 behind: the backend gets HAProxy's client and the address that client dialled, then the bytes`, { ...T, skip: skipWithoutHaproxy }, async (t) => {
      // Every backend connection's bytes: startHaproxy's readiness probe comes through too (from HAProxy itself, saying nothing).
      const received: string[] = [];
      const backend = await startBackend((s) => {
        readAll(s).then((b) => void received.push(b.toString('latin1')), () => undefined); // the probe may be reset
        s.end();
      });
      t.after(() => backend.close());
      const lb = await start(t, dataPlane, [svc('pp', [backendAt(backend.port)], { acceptProxy: true, proxyProtocol: 'v1' })]);
      const front = await haproxyInFront(t, lb.service('pp')!.address!.port, send);
      const client = await dial({ port: front, localAddress: '127.0.0.2', allowHalfOpen: true });
      const clientPort = client.localPort;
      client.end('hello');
      await readAll(client);
      const got = await until('the client\'s bytes at the backend', () => received.find((b) => b.endsWith('hello')));
      assert.equal(got, `PROXY TCP4 127.0.0.2 127.0.0.1 ${clientPort} ${front}\r\nhello`);
    });
  }

  test(`${dataPlane}: HAProxy send-proxy-v2 → Fulcrum (acceptProxy, proxyProtocol v2) → nginx proxy_protocol: nginx sees the original client and the address it dialled`, { ...T, skip: skipWithoutHaproxy || skipWithoutNginx }, async (t) => {
    const nginx = await nginxReceiver(t);
    const lb = await start(t, dataPlane, [svc('chain', [backendAt(nginx)], { acceptProxy: true, trustedProxies: [parseCidr('t', '127.0.0.1')], proxyProtocol: 'v2' })]);
    const front = await haproxyInFront(t, lb.service('chain')!.address!.port, 'send-proxy-v2');
    const client = await dial({ port: front, localAddress: '127.0.0.2' });
    const clientPort = client.localPort;
    const answer = (await readAll(client)).toString();
    assert.equal(answer, `127.0.0.2:${clientPort} 127.0.0.1:${front}`);
  });

  test(`${dataPlane}: deny names the address in the header: 127.0.0.2 through HAProxy is refused, logged as 127.0.0.2, and 127.0.0.3 passes`, { ...T, skip: skipWithoutHaproxy }, async (t) => {
    const [a] = await demos(t, 'a');
    const { log, lines } = captureLog();
    const lb = await start(t, dataPlane, [svc('acl', [backendAt(a!.address.port)], { acceptProxy: true, deny: [parseCidr('t', '127.0.0.2')] })], log);
    const front = await haproxyInFront(t, lb.service('acl')!.address!.port, 'send-proxy-v2');
    assert.equal((await httpGet(front, '127.0.0.3')).trim(), 'hello from a');
    const refused = await dial({ port: front, localAddress: '127.0.0.2' });
    refused.write('GET / HTTP/1.0\r\n\r\n');
    assert.equal((await readAll(refused)).length, 0);
    const stats = lb.service('acl')!.stats;
    await until('the refusal counted', () => stats.rejectedDenied === 1 || undefined);
    assert.ok(lines.some((l) => l.msg === 'client refused' && l.client === '127.0.0.2' && l.reason === 'denied'), JSON.stringify(lines.filter((l) => l.msg === 'client refused')));
  });

  test(`${dataPlane}: a header split byte by byte, then 1 MiB, arrives whole and in order; v2 LOCAL uses the socket's own address`, T, async (t) => {
    const backend = await startBackend();
    t.after(() => backend.close());
    const lb = await start(t, dataPlane, [svc('pp', [backendAt(backend.port)], { acceptProxy: true, allow: [parseCidr('t', '10.1.2.3'), parseCidr('t', '127.0.0.5')] })]);
    const port = lb.service('pp')!.address!.port;
    for (const header of [encodeProxyV1({ address: '10.1.2.3', port: 4000 }, { address: '10.0.0.1', port: 80 }), encodeProxyV2({ address: '10.1.2.3', port: 4000 }, { address: '10.0.0.1', port: 80 })]) {
      const client = await dial({ port });
      client.setNoDelay(true);
      const body = randomBytes(1 << 20);
      const echoed = readBytes(client, body.length);
      for (const byte of header) {
        client.write(Buffer.from([byte]));
        await new Promise((r) => setTimeout(r, 1)); // separate segments, as far as the kernel lets us
      }
      client.write(body);
      assert.equal(sha256(await echoed), sha256(body));
      client.destroy();
    }
    // LOCAL: the socket's own address (127.0.0.5, allowed) is the client.
    const local = await dial({ port, localAddress: '127.0.0.5' });
    const echoed = readBytes(local, 5);
    local.write(Buffer.concat([encodeProxyV2Local(), Buffer.from('local')]));
    assert.equal((await echoed).toString(), 'local');
    local.destroy();
    assert.equal(lb.service('pp')!.stats.rejectedDenied, 0);
  });

  test(`${dataPlane}: a TCP6 header: the IPv6 client goes on in the header sent to the backend (TCP6), allow matching it`, T, async (t) => {
    let received: Promise<Buffer> | undefined;
    const backend = await startBackend((s) => {
      received = readAll(s);
      s.end();
    });
    t.after(() => backend.close());
    const lb = await start(t, dataPlane, [svc('pp', [backendAt(backend.port)], { acceptProxy: true, proxyProtocol: 'v1', allow: [parseCidr('t', '2001:db8::/32')] })]);
    const client = await dial({ port: lb.service('pp')!.address!.port });
    client.end(Buffer.concat([encodeProxyV2({ address: '2001:DB8:0::7', port: 40000 }, { address: '2001:db8::1', port: 443 }), Buffer.from('six')]));
    await readAll(client);
    await until('the backend connection', () => received);
    assert.equal((await received!).toString('latin1'), 'PROXY TCP6 2001:db8::7 2001:db8::1 40000 443\r\nsix');
  });

  test(`${dataPlane}: a header and 4 MiB in one write: up to a whole read of bytes after the header is replayed, the rest relayed, all in order`, T, async (t) => {
    const backend = await startBackend();
    t.after(() => backend.close());
    const lb = await start(t, dataPlane, [svc('pp', [backendAt(backend.port)], { acceptProxy: true })]);
    const client = await dial({ port: lb.service('pp')!.address!.port });
    const body = randomBytes(4 << 20);
    const echoed = readBytes(client, body.length);
    client.write(Buffer.concat([encodeProxyV2({ address: '10.1.2.3', port: 4000 }, { address: '10.0.0.1', port: 80 }), body]));
    assert.equal(sha256(await echoed), sha256(body));
    client.destroy();
  });

  test(`${dataPlane}: the bytes read with the header are replayed to the next backend after a refused connect`, T, async (t) => {
    const backend = await startBackend();
    t.after(() => backend.close());
    const dead = await refusedPort();
    const lb = await start(t, dataPlane, [svc('pp', [backendAt(dead), backendAt(backend.port)], { acceptProxy: true, retries: 2, passive: { maxFails: 0, ejectBaseMs: 5000, ejectMaxMs: 300_000, maxEjectedPercent: 50 } })]);
    const port = lb.service('pp')!.address!.port;
    for (let i = 0; i < 4; i++) {
      const client = await dial({ port });
      const payload = Buffer.from(`request ${i} `.repeat(100));
      const echoed = readBytes(client, payload.length);
      client.write(Buffer.concat([encodeProxyV1({ address: '10.9.9.9', port: 1234 + i }, { address: '10.0.0.1', port: 80 }), payload]));
      assert.deepEqual(await echoed, payload);
      client.destroy();
    }
    assert.ok(lb.service('pp')!.stats.retries >= 1);
  });

  const refusals: { name: string; extra: Partial<ServiceConfig>; send: (s: import('node:net').Socket) => void; counter: 'rejectedProxyHeader' | 'rejectedUntrustedProxy'; localAddress?: string }[] = [
    { name: 'garbage (an HTTP request)', extra: {}, send: (s) => s.write('GET / HTTP/1.0\r\n\r\n'), counter: 'rejectedProxyHeader' },
    { name: 'a v1 line past 107 bytes', extra: {}, send: (s) => s.write(`PROXY TCP4 ${'1'.repeat(120)}`), counter: 'rejectedProxyHeader' },
    { name: 'a v2 header of version 3', extra: {}, send: (s) => { const h = encodeProxyV2({ address: '10.0.0.1', port: 1 }, { address: '10.0.0.2', port: 2 }); h[12] = 0x31; s.write(h); }, counter: 'rejectedProxyHeader' },
    { name: 'a header that never completes (proxyHeaderTimeout 200ms)', extra: { proxyHeaderTimeoutMs: 200 }, send: (s) => s.write('PROXY TCP4 10.0.0.1'), counter: 'rejectedProxyHeader' },
    { name: 'a client that hangs up half-way through the header', extra: {}, send: (s) => s.end('PROXY TCP4 10.0.0.1'), counter: 'rejectedProxyHeader' },
    { name: 'a valid header from a source not in trustedProxies', extra: { trustedProxies: [parseCidr('t', '127.0.0.9')] }, send: (s) => s.write(encodeProxyV1({ address: '10.0.0.1', port: 1 }, { address: '10.0.0.2', port: 2 })), counter: 'rejectedUntrustedProxy', localAddress: '127.0.0.3' },
  ];
  for (const r of refusals) {
    test(`${dataPlane}: refused: ${r.name}: closed, counted, no backend connection`, T, async (t) => {
      const backend = await startBackend();
      t.after(() => backend.close());
      const { log, lines } = captureLog();
      const lb = await start(t, dataPlane, [svc('pp', [backendAt(backend.port)], { acceptProxy: true, ...r.extra })], log);
      const client = await dial({ port: lb.service('pp')!.address!.port, ...(r.localAddress && { localAddress: r.localAddress }) });
      client.on('error', () => {});
      const began = Date.now();
      const end = closed(client);
      const bytes = readAll(client).catch(() => Buffer.alloc(0));
      r.send(client);
      await end;
      assert.equal((await bytes).length, 0);
      if (r.extra.proxyHeaderTimeoutMs) assert.ok(Date.now() - began >= 150, `closed after ${Date.now() - began} ms`);
      const stats = lb.service('pp')!.stats;
      await until('counted', () => stats[r.counter] === 1 || undefined);
      assert.equal(stats.accepted, 1);
      assert.equal(backend.accepted, 0);
      assert.equal(lines.filter((l) => l.kind === (r.counter === 'rejectedProxyHeader' ? 'proxy-header' : 'untrusted-proxy')).length, 1);
      assert.equal(lb.service('pp')!.openConnections, 0);
    });
  }

  test(`${dataPlane}: a flood of garbage is logged once a second at most, and every connection counted`, T, async (t) => {
    const { log, lines } = captureLog();
    const lb = await start(t, dataPlane, [svc('pp', [], { acceptProxy: true })], log);
    const port = lb.service('pp')!.address!.port;
    await Promise.all(Array.from({ length: 20 }, async () => {
      const c = await dial({ port });
      c.on('error', () => {});
      const end = closed(c);
      c.write('garbage\r\n');
      await end;
    }));
    await until('counted', () => lb.service('pp')!.stats.rejectedProxyHeader === 20 || undefined);
    assert.ok(lines.filter((l) => l.kind === 'proxy-header').length <= 2);
  });
}

test('the metric: fulcrum_connections_rejected_total{reason="proxy-header"}', T, async (t) => {
  const lb = await start(t, 'native', [svc('pp', [], { acceptProxy: true })]);
  const c = await dial({ port: lb.service('pp')!.address!.port });
  c.on('error', () => {});
  const end = closed(c);
  c.write('nope\r\n');
  await end;
  await until('counted', () => lb.service('pp')!.stats.rejectedProxyHeader === 1 || undefined);
  const res = await fetch(`http://127.0.0.1:${lb.adminAddress.port}/metrics`);
  const text = await res.text();
  assert.match(text, /fulcrum_connections_rejected_total\{service="pp",reason="proxy-header"\} 1/);
});
