/**
 * `proxyProtocol` on a backend (issue 12): it wins over the service's, in
 * the file and in the admin `register` body; `none` opts one backend out;
 * the listing shows what each backend gets. HAProxy with `accept-proxy` is
 * the receiver (it decodes the header and answers with the client it read);
 * on both data planes, and through `--workers 2`, where backends reach the
 * workers in the primary's whole-state messages.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeConfig, makeService } from '../../src/config/config.ts';
import { Fulcrum } from '../../src/fulcrum.ts';
import { parseProxyHeader } from '../../src/proxy/first-bytes/proxy-protocol.ts';
import { startBackend } from '../helpers/fault-backend.ts';
import { skipWithoutHaproxy, startHaproxyLogged } from '../helpers/haproxy.ts';
import { until } from '../helpers/wait.ts';
import { dial, readAll, readBytes, sha256 } from '../helpers/net.ts';
import { backendAt } from '../helpers/proxy.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const skip = skipWithoutHaproxy;

/** HAProxy in HTTP mode behind `accept-proxy`, answering every request with the client and destination it decoded. */
function haproxyReceiver(t: TestContext): Promise<number>;
function haproxyReceiver(t: TestContext, logged: true): Promise<{ port: number; log: () => string }>;
function haproxyReceiver(t: TestContext, logged = false): Promise<number | { port: number; log: () => string }> {
  const started = startHaproxyLogged(t, (port) => [
    'global', '  maxconn 100', ...(logged ? ['  log stderr format raw local0'] : []),
    'defaults', '  mode http', ...(logged ? ['  log global'] : []), '  timeout connect 2s', '  timeout client 5s', '  timeout server 5s',
    'frontend fe', `  bind 127.0.0.1:${port} accept-proxy`,
    '  http-request return status 200 content-type text/plain lf-string "%[src]:%[src_port] %[dst]:%[dst_port]"',
  ]);
  return logged ? started : started.then((h) => h.port);
}

/** One request from `localAddress` through `port`; the answer's body and the client's port. */
async function ask(port: number, localAddress: string): Promise<{ body: string; clientPort: number }> {
  const client = await dial({ port, localAddress, allowHalfOpen: true });
  const clientPort = client.localPort!;
  const all = readAll(client);
  client.end('GET / HTTP/1.0\r\n\r\n');
  const text = (await all).toString();
  assert.match(text, /^HTTP\/1\.[01] 200/, text);
  return { body: text.slice(text.indexOf('\r\n\r\n') + 4), clientPort };
}

async function adminJson(url: string, init?: RequestInit): Promise<{ status: number; body: any }> {
  const res = await fetch(url, init);
  return { status: res.status, body: await res.json() };
}

for (const dataPlane of ['native', 'stream'] as const) {
  test(`${dataPlane} plane: a backend registered with proxyProtocol v2 (service unset) gets the header; the listing shows it; re-registering keeps it`, { skip, timeout: 30_000 }, async (t) => {
    const receiver = await haproxyReceiver(t);
    const lb = await Fulcrum.start(
      makeConfig({
        admin: { host: '127.0.0.1', port: 0 },
        dataPlane,
        services: [makeService({ name: 'pp', listen: { host: '127.0.0.1', port: 0 }, health: { intervalMs: 0 } })],
      }),
    );
    t.after(() => lb.destroy());
    const admin = `http://127.0.0.1:${lb.adminAddress!.port}`;
    const post = (body: unknown) => adminJson(`${admin}/services/pp/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

    const bad = await post({ address: `127.0.0.1:${receiver}`, proxyProtocol: 'v3' });
    assert.equal(bad.status, 400);
    assert.match(JSON.stringify(bad.body), /proxyProtocol: \\"v3\\" is invalid \(use v1, v2 or none\)/);
    assert.equal(lb.service('pp')!.registry.list().length, 0, 'a refused body changes nothing');

    const created = await post({ address: `127.0.0.1:${receiver}`, proxyProtocol: 'v2' });
    assert.equal(created.status, 200);
    assert.equal(created.body.data.backend.proxyProtocol, 'v2');
    const port = lb.service('pp')!.address!.port;
    const { body, clientPort } = await ask(port, '127.0.0.2');
    assert.equal(body, `127.0.0.2:${clientPort} 127.0.0.1:${port}`);

    // Keys left out keep the backend's value; the listing says what it gets.
    assert.equal((await post({ address: `127.0.0.1:${receiver}`, weight: 3 })).status, 200);
    const listed = await adminJson(`${admin}/services/pp/backends`);
    assert.deepEqual(listed.body.data.backends.map((b: { proxyProtocol: string; weight: number }) => [b.proxyProtocol, b.weight]), [['v2', 3]]);
    const again = await ask(port, '127.0.0.3');
    assert.equal(again.body, `127.0.0.3:${again.clientPort} 127.0.0.1:${port}`);
  });

  test(`${dataPlane} plane: proxyProtocol none on a backend opts it out of its service's v1: its bytes arrive bare while a v1 sibling decodes the client`, { skip, timeout: 30_000 }, async (t) => {
    const receiver = await haproxyReceiver(t);
    let bare: Promise<Buffer> | undefined;
    const plain = await startBackend((s) => {
      bare = readAll(s);
      s.end();
    });
    t.after(() => plain.close());
    const lb = await Fulcrum.start(
      makeConfig({
        admin: { host: '127.0.0.1', port: 0 },
        dataPlane,
        services: [makeService({
          name: 'pp', listen: { host: '127.0.0.1', port: 0 }, algo: 'round-robin', health: { intervalMs: 0 }, proxyProtocol: 'v1',
          backends: [backendAt(receiver), { ...backendAt(plain.port), proxyProtocol: 'none' as const }],
        })],
      }),
    );
    t.after(() => lb.destroy());
    const port = lb.service('pp')!.address!.port;
    const { body, clientPort } = await ask(port, '127.0.0.2');
    assert.equal(body, `127.0.0.2:${clientPort} 127.0.0.1:${port}`);
    // Round robin: the next connection goes to the bare backend.
    const payload = Buffer.from('PROXY-free bytes\r\n');
    const client = await dial({ port, localAddress: '127.0.0.3', allowHalfOpen: true });
    client.end(payload);
    await readAll(client);
    assert.equal(sha256(await bare!), sha256(payload), 'no header before the client bytes');
  });
}

for (const dataPlane of ['native', 'stream'] as const) {
  test(`${dataPlane} plane: a server-first backend greets through its own proxyProtocol v2 (service unset) before the client sends a byte; the header came first`, { timeout: 30_000 }, async (t) => {
    let received: Promise<Buffer> | undefined;
    // Like a server behind accept-proxy: it reads the header, then greets. A header held back until the client's first byte would leave the client waiting for ever.
    const backend = await startBackend((s) => {
      received = readAll(s);
      let seen = Buffer.alloc(0);
      const onData = (d: Buffer) => {
        seen = Buffer.concat([seen, d]);
        if (parseProxyHeader(seen).kind !== 'done') return;
        s.off('data', onData);
        s.write('220 ready\r\n');
      };
      s.on('data', onData);
    });
    t.after(() => backend.close());
    const lb = await Fulcrum.start(
      makeConfig({
        admin: { host: '127.0.0.1', port: 0 },
        dataPlane,
        services: [makeService({ name: 'smtp', listen: { host: '127.0.0.1', port: 0 }, backends: [{ ...backendAt(backend.port), proxyProtocol: 'v2' as const }], health: { intervalMs: 0 } })],
      }),
    );
    t.after(() => lb.destroy());
    const port = lb.service('smtp')!.address!.port;
    const client = await dial({ port, localAddress: '127.0.0.3' });
    const clientPort = client.localPort;
    // Nothing sent yet: the greeting still arrives.
    assert.equal((await readBytes(client, 11)).toString(), '220 ready\r\n');
    client.end('QUIT\r\n');
    const bytes = await received!;
    const r = parseProxyHeader(bytes);
    if (r.kind !== 'done' || r.header.family === 'UNKNOWN') return assert.fail(`no address in the header: ${JSON.stringify(r)}`);
    assert.equal(r.header.version, 2);
    assert.deepEqual(r.header.source, { address: '127.0.0.3', port: clientPort });
    assert.deepEqual(r.header.destination, { address: '127.0.0.1', port });
    assert.equal(bytes.subarray(r.length).toString(), 'QUIT\r\n', 'the client bytes follow the header, intact');
    client.destroy();
  });
}

test('--workers 2: a file backend with proxyProtocol v2 gets the header through the workers (the primary serves no traffic); a reload to none reaches them, and so does an API re-register', { skip, timeout: 60_000 }, async (t) => {
  const receiver = await haproxyReceiver(t, true);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fulcrum-pp-workers-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'fulcrum.yaml');
  writeFileSync(file, [
    'admin: { listen: 127.0.0.1:0 }',
    'workers: 2',
    'services:',
    '  - name: pp',
    '    listen: 127.0.0.1:0',
    '    health: { interval: 0 }',
    '    backends:',
    `      - { address: 127.0.0.1:${receiver.port}, proxyProtocol: v2 }`,
    '',
  ].join('\n'));
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', '-c', file, '--log-level', 'warn'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  while (!/admin listening/.test(out)) await once(child.stdout, 'data');
  const port = Number(/service pp listening on 127\.0\.0\.1:(\d+)/.exec(out)![1]);
  // Every connection is a worker's (the kernel spreads accepts between them); each must carry the header.
  const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => ask(port, `127.0.0.${2 + (i % 5)}`)));
  answers.forEach(({ body, clientPort }, i) => assert.equal(body, `127.0.0.${2 + (i % 5)}:${clientPort} 127.0.0.1:${port}`));

  // A reload to `none` reaches every worker before it answers: HAProxy then refuses each connection (no header), answering nothing.
  writeFileSync(file, readFileSync(file, 'utf8').replace('proxyProtocol: v2', 'proxyProtocol: none'));
  const admin = Number(/admin listening on 127\.0\.0\.1:(\d+)/.exec(out)![1]);
  const reload = await adminJson(`http://127.0.0.1:${admin}/reload`, { method: 'POST' });
  assert.equal(reload.status, 200, JSON.stringify(reload.body));
  assert.deepEqual(reload.body.data.workers, { acknowledged: 2, missing: [] });
  const refused = await Promise.all(Array.from({ length: 10 }, async () => {
    const client = await dial({ port, localAddress: '127.0.0.2', allowHalfOpen: true });
    const all = readAll(client).catch(() => Buffer.alloc(0)); // HAProxy resets; Fulcrum passes the reset on
    client.end('GET / HTTP/1.0\r\n\r\n');
    return (await all).length;
  }));
  assert.deepEqual(refused, Array(10).fill(0), 'no answer without the header');
  // And HAProxy says why, once per connection.
  await until('HAProxy logged the headerless connections', () => (receiver.log().match(/Received something which does not look like a PROXY protocol header/g)?.length ?? 0) >= 10 || undefined);

  // Re-registered over the API with v2 again: no reload, so only the registry's event carries it to the workers.
  const registered = await adminJson(`http://127.0.0.1:${admin}/services/pp/register`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ address: `127.0.0.1:${receiver.port}`, proxyProtocol: 'v2' }),
  });
  assert.equal(registered.body.data.backend.proxyProtocol, 'v2');
  await until('every worker sends the header again', async () => {
    const batch = await Promise.all(Array.from({ length: 10 }, () => ask(port, '127.0.0.5').then((a) => a.body, () => '')));
    return batch.every((b) => b.startsWith('127.0.0.5:')) ? true : undefined;
  }, 10_000);
  child.kill('SIGTERM');
  await once(child, 'exit');
});

test('a reload that changes the service\'s or a file backend\'s proxyProtocol applies to the next connection, and says what changed', { timeout: 30_000 }, async (t) => {
  const received: Promise<Buffer>[] = [];
  const backend = await startBackend((s) => {
    received.push(readAll(s));
    s.on('end', () => s.end());
  });
  t.after(() => backend.close());
  const config = (service: 'v1' | 'v2' | undefined, own: 'v1' | 'v2' | 'none' | undefined, port = 0) => makeConfig({
    admin: { host: '127.0.0.1', port: 0 },
    services: [makeService({
      name: 'pp', listen: { host: '127.0.0.1', port }, health: { intervalMs: 0 },
      ...(service !== undefined && { proxyProtocol: service }),
      backends: [{ ...backendAt(backend.port), ...(own !== undefined && { proxyProtocol: own }) }],
    })],
  });
  const lb = await Fulcrum.start(config(undefined, undefined));
  t.after(() => lb.destroy());
  const port = lb.service('pp')!.address!.port;
  /** What the backend's next connection starts with: 'none', or the header's version. */
  const next = async () => {
    const client = await dial({ port, localAddress: '127.0.0.4', allowHalfOpen: true });
    client.end('hello');
    await readAll(client);
    const bytes = await received.at(-1)!;
    if (bytes.toString() === 'hello') return 'none';
    const r = parseProxyHeader(bytes);
    assert.equal(r.kind, 'done', bytes.toString('latin1'));
    assert.equal(bytes.subarray(r.kind === 'done' ? r.length : 0).toString(), 'hello');
    return r.kind === 'done' ? `v${r.header.version}` : 'bad';
  };
  assert.equal(await next(), 'none');
  const key = `127.0.0.1:${backend.port}`;
  let summary = await lb.apply(config('v2', undefined, port));
  assert.deepEqual(summary.changed.pp?.settings, ['proxyProtocol']);
  assert.equal(await next(), 'v2');
  summary = await lb.apply(config('v2', 'none', port));
  assert.deepEqual(summary.changed.pp?.backendsChanged, [key]);
  assert.equal(await next(), 'none');
  summary = await lb.apply(config('v2', 'v1', port));
  assert.deepEqual(summary.changed.pp?.backendsChanged, [key]);
  assert.equal(await next(), 'v1');
});
