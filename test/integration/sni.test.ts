/**
 * SNI routing (TLS passthrough): several services on one listen address,
 * each with `sni:` names, at most one without (the default). Real peers:
 * `openssl s_server` backends with self-signed certificates this test makes
 * (`openssl req`), reached with `openssl s_client -servername` and
 * `curl --resolve`; which backend answered is told by the certificate it
 * presented. Byte-exact routing and refusals use plain capture backends.
 * Runs on both data planes.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeConfig, makeService, type FulcrumConfig, type ServiceConfig } from '../../src/config/config.ts';
import { Fulcrum } from '../../src/fulcrum.ts';
import { encodeProxyV2 } from '../../src/proxy/first-bytes/proxy-encode.ts';
import { buildClientHello } from '../helpers/client-hello.ts';
import { startBackend, type TestBackend } from '../helpers/fault-backend.ts';
import { freePort } from '../helpers/haproxy.ts';
import { closed, dial, readAll } from '../helpers/net.ts';
import { backendAt } from '../helpers/proxy.ts';
import { until } from '../helpers/wait.ts';

const T = { timeout: 60_000 };
const shared = { host: '127.0.0.1', port: 0 };
const HAVE_OPENSSL = spawnSync('openssl', ['version']).status === 0;
const HAVE_CURL = spawnSync('curl', ['--version']).status === 0;

/** An `openssl s_server -www` with a self-signed certificate for `cn`; resolves with its port. */
async function tlsBackend(t: TestContext, cn: string): Promise<number> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fulcrum-sni-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-subj', `/CN=${cn}`, '-days', '1']);
  assert.equal(made.status, 0, made.stderr.toString());
  const child = spawn('openssl', ['s_server', '-accept', '0', '-cert', cert, '-key', key, '-www'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      out += d;
      const m = /ACCEPT .*:(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => reject(new Error(`s_server exited ${code}: ${out}`)));
  });
}

/** The CN of the certificate the server at `port` presents for `serverName`, as `openssl s_client` reports it. */
function sClientSubject(port: number, serverName: string): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', serverName], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.stdin.end(); // EOF after the handshake: s_client says what it saw and quits
    child.on('close', () => resolve(/subject=.*?CN ?= ?([^\s,/]+)/.exec(out)?.[1] ?? `(no subject) ${out.slice(0, 300)}`));
  });
}

/** `curl --resolve name:port:127.0.0.1 -k https://name:port/`: the certificate CN it saw, and the status. */
function curlSubject(port: number, serverName: string): Promise<{ cn: string; status: string }> {
  return new Promise((resolve) => {
    const child = spawn('curl', ['-sk', '-v', '-o', '/dev/null', '-w', '%{http_code}', '--resolve', `${serverName}:${port}:127.0.0.1`, `https://${serverName}:${port}/`]);
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', () => resolve({ cn: /subject: .*?CN ?= ?([^\s,;]+)/.exec(err)?.[1] ?? `(none) ${err.slice(-300)}`, status: out }));
  });
}

async function start(t: TestContext, config: FulcrumConfig, reread?: () => FulcrumConfig): Promise<Fulcrum> {
  const lb = await Fulcrum.start(config, reread ? { reread } : {});
  t.after(() => lb.destroy());
  return lb;
}

const svc = (name: string, port: number, extra: Partial<ServiceConfig> = {}) =>
  makeService({ name, listen: shared, algo: 'round-robin', backends: [backendAt(port)], health: { intervalMs: 0 }, ...extra });

/** A backend that keeps what each connection sent, closing once it has `n` bytes. */
async function capture(t: TestContext): Promise<TestBackend & { got: Promise<Buffer>[] }> {
  const got: Promise<Buffer>[] = [];
  const b = await startBackend((s) => void got.push(readAll(s).then((bytes) => (s.end(), bytes), () => Buffer.alloc(0))));
  t.after(() => b.close());
  return Object.assign(b, { got });
}

for (const dataPlane of ['native', 'stream'] as const) {
  test(`${dataPlane}: s_client -servername and curl --resolve reach the right TLS backend on one port; a wildcard; an unknown name goes to the default`, { ...T, skip: HAVE_OPENSSL && HAVE_CURL ? false : 'openssl or curl missing' }, async (t) => {
    const [a, b, wild, dflt] = await Promise.all([tlsBackend(t, 'a.test'), tlsBackend(t, 'b.test'), tlsBackend(t, 'wild.test'), tlsBackend(t, 'default.test')]);
    const lb = await start(t, makeConfig({
      admin: shared, dataPlane,
      services: [svc('a', a, { sni: ['a.test'] }), svc('b', b, { sni: ['B.Test'] }), svc('wild', wild, { sni: ['*.wild.test'] }), svc('rest', dflt)],
    }));
    const port = lb.service('a')!.address!.port;
    for (const name of ['b', 'wild', 'rest']) assert.equal(lb.service(name)!.address!.port, port, `${name} shares the port`);
    assert.equal(await sClientSubject(port, 'a.test'), 'a.test');
    assert.equal(await sClientSubject(port, 'b.test'), 'b.test');
    assert.equal(await sClientSubject(port, 'x.wild.test'), 'wild.test');
    assert.equal(await sClientSubject(port, 'other.test'), 'default.test');
    assert.deepEqual(await curlSubject(port, 'a.test'), { cn: 'a.test', status: '200' });
    assert.deepEqual(await curlSubject(port, 'B.TEST'), { cn: 'b.test', status: '200' });
    assert.deepEqual(await curlSubject(port, 'deep.wild.test'), { cn: 'wild.test', status: '200' });
    assert.deepEqual(await curlSubject(port, 'nowhere.test'), { cn: 'default.test', status: '200' });
    // Each service counted its own connections.
    assert.equal(lb.service('a')!.stats.accepted, 2);
    assert.equal(lb.service('rest')!.stats.accepted, 2);
  });

  test(`${dataPlane}: a ClientHello split byte by byte routes by its name, and every byte reaches the backend untouched; exact before wildcard; plain text goes to the default`, T, async (t) => {
    const [exact, wild, dflt] = [await capture(t), await capture(t), await capture(t)];
    const lb = await start(t, makeConfig({
      admin: shared, dataPlane,
      services: [svc('exact', exact.port, { sni: ['a.example.com'] }), svc('wild', wild.port, { sni: ['*.example.com'] }), svc('rest', dflt.port)],
    }));
    const port = lb.service('exact')!.address!.port;
    const send = async (bytes: Buffer, split: boolean) => {
      const c = await dial({ port });
      c.setNoDelay(true);
      if (split) {
        for (const byte of bytes) {
          c.write(Buffer.from([byte]));
          await new Promise((r) => setTimeout(r, 1));
        }
      } else c.write(bytes);
      c.end();
      await readAll(c);
    };
    const hello = buildClientHello({ names: ['a.example.com'] }, 100); // several records too
    await send(Buffer.concat([hello, Buffer.from('after')]), true);
    await until('the exact service', () => exact.got[0]);
    assert.deepEqual(await exact.got[0], Buffer.concat([hello, Buffer.from('after')]));
    const other = buildClientHello({ names: ['B.example.com'] });
    await send(other, false);
    await until('the wildcard service', () => wild.got[0]);
    assert.deepEqual(await wild.got[0], other);
    await send(Buffer.from('GET / HTTP/1.0\r\n\r\n'), false);
    await until('the default service', () => dflt.got[0]);
    assert.equal((await dflt.got[0])!.toString(), 'GET / HTTP/1.0\r\n\r\n');
    assert.equal(lb.service('wild')!.registry.list()[0]!.total, 1);
    // The admin API lists each service on the one address, with its names.
    const list = (await (await fetch(`http://127.0.0.1:${lb.adminAddress.port}/services`)).json()) as { data: { services: { name: string; listen: string; sni?: string[] }[] } };
    assert.deepEqual(list.data.services.map((s) => [s.name, s.listen, s.sni]), [['exact', `127.0.0.1:${port}`, ['a.example.com']], ['wild', `127.0.0.1:${port}`, ['*.example.com']], ['rest', `127.0.0.1:${port}`, undefined]]);
  });

  test(`${dataPlane}: no default: an unknown name, a malformed ClientHello, plain text and a ClientHello that never completes (sniTimeout) are closed and counted`, T, async (t) => {
    const only = await capture(t);
    const lb = await start(t, makeConfig({ admin: shared, dataPlane, services: [svc('a', only.port, { sni: ['a.test'], sniTimeoutMs: 200 }), svc('b', only.port, { sni: ['b.test'] })] }));
    const port = lb.service('a')!.address!.port;
    const bad = buildClientHello({ names: ['a.test'] });
    bad[5 + 4 + 2 + 32] = 40; // a session id longer than 32
    const cases = [buildClientHello({ names: ['c.test'] }), bad, Buffer.from('GET / HTTP/1.0\r\n\r\n'), buildClientHello({ names: ['a.test'] }).subarray(0, 20)];
    for (const bytes of cases) {
      const c = await dial({ port });
      c.on('error', () => {});
      const end = closed(c);
      c.write(bytes);
      await end;
    }
    // Counted on the address's first service (there is no default).
    await until('counted', () => lb.service('a')!.stats.rejectedSni === 4 || undefined);
    assert.equal(only.accepted, 0);
  });

  test(`${dataPlane}: acceptProxy and sni together: the header first, then the ClientHello; the client is the header's`, T, async (t) => {
    const [a, b] = [await capture(t), await capture(t)];
    const lb = await start(t, makeConfig({
      admin: shared, dataPlane,
      services: [svc('a', a.port, { sni: ['a.test'], acceptProxy: true, proxyProtocol: 'v1' }), svc('b', b.port, { sni: ['b.test'], acceptProxy: true })],
    }));
    const port = lb.service('a')!.address!.port;
    const hello = buildClientHello({ names: ['a.test'] });
    const c = await dial({ port });
    c.write(encodeProxyV2({ address: '192.0.2.7', port: 5555 }, { address: '198.51.100.1', port: 443 }));
    c.end(hello);
    await readAll(c);
    await until('service a', () => a.got[0]);
    assert.deepEqual(await a.got[0], Buffer.concat([Buffer.from('PROXY TCP4 192.0.2.7 198.51.100.1 5555 443\r\n'), hello]));
    assert.equal(b.accepted, 0);
  });

  test(`${dataPlane}: a reload adds and removes an SNI service on a shared port; an established connection carries on`, T, async (t) => {
    const [a, b] = [await capture(t), await capture(t)];
    const listen = { host: '127.0.0.1', port: await freePort() };
    const one = makeConfig({ admin: shared, dataPlane, services: [makeService({ name: 'a', listen, backends: [backendAt(a.port)], health: { intervalMs: 0 }, sni: ['a.test'] })] });
    const two = makeConfig({ admin: shared, dataPlane, services: [...one.services, makeService({ name: 'b', listen, backends: [backendAt(b.port)], health: { intervalMs: 0 }, sni: ['b.test'] })] });
    let next = two;
    const lb = await start(t, one, () => next);
    const helloA = buildClientHello({ names: ['a.test'] });
    const open = await dial({ port: listen.port });
    open.write(helloA);
    await until('a connection to a', () => (a.accepted === 1 ? true : undefined));
    const summary = await lb.reload();
    assert.deepEqual(summary.added, ['b']);
    const helloB = buildClientHello({ names: ['b.test'] });
    const c = await dial({ port: listen.port });
    c.end(helloB);
    await readAll(c);
    await until('b', () => b.got[0]);
    assert.deepEqual(await b.got[0], helloB);
    next = one;
    await lb.reload();
    assert.equal(lb.service('b'), undefined);
    // The connection opened before both reloads still carries bytes, in order.
    open.end('still here');
    await readAll(open);
    assert.deepEqual(await a.got[0], Buffer.concat([helloA, Buffer.from('still here')]));
    // b's name is nobody's now: refused (no default).
    const late = await dial({ port: listen.port });
    late.on('error', () => {});
    const end = closed(late);
    late.write(helloB);
    await end;
    assert.equal(b.accepted, 1);
  });
}

test('--workers 2: two SNI services on one port route by name in the workers', { ...T, skip: process.platform === 'win32' }, async (t) => {
  const [a, b] = [await capture(t), await capture(t)];
  const lb = await start(t, makeConfig({ admin: shared, workers: 2, services: [svc('a', a.port, { sni: ['a.test'] }), svc('b', b.port)] }));
  const port = lb.service('a')!.address!.port;
  assert.equal(lb.service('b')!.address!.port, port);
  for (let i = 0; i < 6; i++) {
    const c = await dial({ port });
    c.end(i % 2 === 0 ? buildClientHello({ names: ['a.test'] }) : Buffer.from('plain'));
    await readAll(c);
  }
  await until('every connection', () => (a.accepted === 3 && b.accepted === 3 ? true : undefined));
});
