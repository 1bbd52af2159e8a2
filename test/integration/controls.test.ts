/**
 * Client controls of a service through real sockets: allow/deny by client
 * address (IPv4 and IPv6), per-IP connection limits and rates with clients
 * bound to 127.0.0.2, 127.0.0.3, …, the counts in /metrics, and the per-IP
 * table staying bounded under thousands of source addresses.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { parseCidr } from '../../src/config/cidr.ts';
import { makeConfig, makeService, type ServiceConfig } from '../../src/config/config.ts';
import { Fulcrum } from '../../src/fulcrum.ts';
import { startDemoBackend } from '../../tools/backend.ts';
import { adminClient } from '../helpers/admin-client.ts';
import { closed, dial, httpGet, readBytes } from '../helpers/net.ts';
import { backendAt } from '../helpers/proxy.ts';
import { until } from '../helpers/wait.ts';

const T = { timeout: 60_000 };

async function start(t: TestContext, service: Partial<ServiceConfig>, listenHost = '127.0.0.1') {
  const echo = await startDemoBackend('echo');
  t.after(() => echo.close());
  const lb = await Fulcrum.start(
    makeConfig({ admin: { host: '127.0.0.1', port: 0 }, services: [makeService({ name: 'web', listen: { host: listenHost, port: 0 }, backends: [backendAt(echo.address.port)], health: { intervalMs: 0 }, ...service })] }),
  );
  t.after(() => lb.destroy());
  return { lb, port: lb.service('web')!.address!.port };
}

/** Whether a client from `localAddress` gets an echo (true) or is closed at once without one (false). */
async function served(port: number, localAddress: string, host = '127.0.0.1'): Promise<boolean> {
  const c = await dial({ port, host, localAddress });
  const end = closed(c);
  c.write('ping');
  const answer = await Promise.race([readBytes(c, 4).then((b) => b.toString(), () => ''), end.then(() => '')]);
  c.destroy();
  return answer === 'ping';
}

const rejected = async (lb: Fulcrum, reason: string) =>
  Number(new RegExp(`^fulcrum_connections_rejected_total\\{service="web",reason="${reason}"\\} (\\d+)$`, 'm').exec((await adminClient(lb.adminAddress).get('/metrics')).text)?.[1]);

test('deny 127.0.0.2/32 refuses it while 127.0.0.1 and 127.0.0.3 pass; counted as denied', T, async (t) => {
  const { lb, port } = await start(t, { deny: [parseCidr('deny', '127.0.0.2/32')] });
  assert.deepEqual(await Promise.all(['127.0.0.1', '127.0.0.2', '127.0.0.3'].map((ip) => served(port, ip))), [true, false, true]);
  assert.equal(await rejected(lb, 'denied'), 1);
});

test('an allow list lets in only what it names; deny wins over allow; IPv6 ::1 by its own rule', T, async (t) => {
  const { lb, port } = await start(t, { allow: [parseCidr('allow', '127.0.0.0/30'), parseCidr('allow', '::1')], deny: [parseCidr('deny', '127.0.0.3')] }, '::');
  const results = {
    '127.0.0.1': await served(port, '127.0.0.1'),
    '127.0.0.2': await served(port, '127.0.0.2'),
    '127.0.0.3': await served(port, '127.0.0.3'),
    '127.0.0.5': await served(port, '127.0.0.5'),
    '::1': await served(port, '::1', '::1'),
  };
  // On the dual-stack listener IPv4 clients arrive as ::ffff:127.0.0.x and still match the IPv4 rules.
  assert.deepEqual(results, { '127.0.0.1': true, '127.0.0.2': true, '127.0.0.3': false, '127.0.0.5': false, '::1': true });
  assert.equal(await rejected(lb, 'denied'), 2);
});

test('per-IP connections: the third from one address is refused, another address is not; a closed one frees a slot', T, async (t) => {
  const { lb, port } = await start(t, { limits: { maxConnectionsPerIp: 2, connectionRatePerIp: undefined } });
  const open = [await dial({ port, localAddress: '127.0.0.2' }), await dial({ port, localAddress: '127.0.0.2' })];
  for (const c of open) {
    c.write('hi');
    assert.equal((await readBytes(c, 2)).toString(), 'hi');
  }
  assert.equal(await served(port, '127.0.0.2'), false);
  assert.equal(await served(port, '127.0.0.3'), true);
  const gone = closed(open[0]!);
  open[0]!.end();
  await gone;
  await until('the slot freed', async () => ((await served(port, '127.0.0.2')) ? true : undefined));
  open[1]!.destroy();
  assert.ok((await rejected(lb, 'per-ip-connections')) >= 1);
});

test('per-IP rate: a burst of 5/m lets five in and refuses the sixth; another address has its own bucket', T, async (t) => {
  // Per minute, so a token comes back only after 12 s: the burst's outcome does not depend on how fast this machine runs it.
  const { lb, port } = await start(t, { limits: { maxConnectionsPerIp: 0, connectionRatePerIp: { count: 5, periodMs: 60_000 } } });
  const burst: boolean[] = [];
  for (let i = 0; i < 7; i++) burst.push(await served(port, '127.0.0.4'));
  assert.deepEqual(burst, [true, true, true, true, true, false, false]);
  assert.equal(await served(port, '127.0.0.5'), true);
  assert.equal(await rejected(lb, 'per-ip-rate'), 2);
});

test('the per-IP table stays bounded under 100,000 distinct source addresses (127.x.y.z)', { timeout: 240_000 }, async (t) => {
  // A table of 10,000 IPs (the default is 100,000), so the 100,000 sources overflow it tenfold.
  const { lb, port } = await start(t, { limits: { maxConnectionsPerIp: 5, connectionRatePerIp: undefined, maxTrackedIps: 10_000 } });
  const gate = lb.service('web')!.gate!;
  const SOURCES = 100_000;
  for (let i = 0; i < SOURCES; i += 200) {
    await Promise.all(
      Array.from({ length: 200 }, async (_, k) => {
        const n = i + k;
        // 127.1.0.0 onward: 100,000 distinct addresses, each used once.
        const c = await dial({ port, localAddress: `127.${1 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}` });
        const end = closed(c);
        c.end();
        await end;
      }),
    );
  }
  // Every source went through, none refused; the table never held more than its bound: idle entries made room.
  assert.ok(gate.trackedIps <= 10_000, `${gate.trackedIps} entries`);
  assert.ok(gate.trackedIps >= 9_000, `${gate.trackedIps} entries: the table was used`);
  assert.equal(await rejected(lb, 'per-ip-connections'), 0);
  assert.match((await adminClient(lb.adminAddress).get('/metrics')).text, new RegExp(`^fulcrum_connections_accepted_total\\{service="web"\\} ${SOURCES}$`, 'm'));
  assert.equal(await rejected(lb, 'per-ip-connections'), 0);
});

test('flags: --deny and --max-conns-per-ip for the flags-only service', T, async (t) => {
  const echo = await startDemoBackend('echo');
  t.after(() => echo.close());
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--health-interval', '0',
    '--backend', `127.0.0.1:${echo.address.port}`, '--deny', '127.0.0.2/32', '--max-conns-per-ip', '1'], { cwd: new URL('../..', import.meta.url), stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  while (!/admin listening/.test(out)) await once(child.stdout, 'data');
  const port = Number(/proxy listening on 127\.0\.0\.1:(\d+)/.exec(out)![1]);
  assert.equal(await served(port, '127.0.0.2'), false);
  assert.equal((await httpGet(port, '127.0.0.1')).trim(), 'hello from echo');
});

test('a backend with maxConnections 2: the third and fourth clients wait, are served in arrival order as the first two close; a fifth times out and reads unavailableReply', T, async (t) => {
  const echo = await startDemoBackend('echo');
  t.after(() => echo.close());
  const reply = 'HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n';
  const lb = await Fulcrum.start(
    makeConfig({
      admin: { host: '127.0.0.1', port: 0 },
      services: [makeService({
        name: 'web', listen: { host: '127.0.0.1', port: 0 }, backends: [{ ...backendAt(echo.address.port), maxConnections: 2 }], health: { intervalMs: 0 },
        queue: { size: 1024, timeoutMs: 400 }, unavailableReply: reply,
      })],
    }),
  );
  t.after(() => lb.destroy());
  const port = lb.service('web')!.address!.port;
  const admission = lb.service('web')!.admission;
  const [first, second] = [await dial({ port }), await dial({ port })];
  for (const [c, text] of [[first, 'one'], [second, 'two']] as const) {
    c.write(text);
    assert.equal((await readBytes(c, text.length)).toString(), text);
  }
  // Third, fourth and fifth: accepted, queued in that order, not read (their bytes wait in the kernel), no backend connection.
  const waiting: Awaited<ReturnType<typeof dial>>[] = [];
  for (const [i, text] of ['three', 'four', 'five'].entries()) {
    const c = await dial({ port, allowHalfOpen: true });
    c.write(text);
    waiting.push(c);
    await until(`client ${i + 3} queued`, () => (admission.length === i + 1 ? true : undefined));
  }
  assert.equal(lb.service('web')!.registry.list()[0]!.active, 2);
  const [third, fourth, fifth] = waiting as [typeof first, typeof first, typeof first];
  const order: string[] = [];
  const thirdGot = readBytes(third, 5).then((b) => order.push(`third:${b}`));
  const fourthGot = readBytes(fourth, 4).then((b) => order.push(`fourth:${b}`));
  const { readAll } = await import('../helpers/net.ts');
  const fifthGot = readAll(fifth);
  const started = Date.now();
  for (const c of [first, second]) {
    const end = closed(c);
    c.end();
    await end;
  }
  await Promise.all([thirdGot, fourthGot]);
  assert.deepEqual(order, ['third:three', 'fourth:four'], 'served in arrival order, their early bytes intact');
  // The backend is full again with the third and fourth: the fifth waits out its 400 ms and reads the reply.
  assert.equal((await fifthGot).toString(), reply);
  assert.ok(Date.now() - started >= 300, `the fifth was refused after ${Date.now() - started} ms`);
  third.destroy();
  fourth.destroy();
  const metrics = (await adminClient(lb.adminAddress).get('/metrics')).text;
  assert.match(metrics, /^fulcrum_connections_rejected_total\{service="web",reason="queue-timeout"\} 1$/m);
  assert.match(metrics, /^fulcrum_connections_rejected_total\{service="web",reason="queue-full"\} 0$/m);
  assert.match(metrics, /^fulcrum_connections_accepted_total\{service="web"\} 5$/m);
  assert.match(metrics, /^fulcrum_backend_connections_total\{service="web",backend="127\.0\.0\.1:\d+"\} 4$/m);
  assert.match(metrics, /^fulcrum_queue_length\{service="web"\} 0$/m);
});

test('a full queue refuses at once', T, async (t) => {
  const { lb, port } = await start(t, { maxConnections: 1, queue: { size: 1, timeoutMs: 5000 } });
  const first = await dial({ port });
  first.write('a');
  await readBytes(first, 1);
  const second = await dial({ port });
  await until('queued', () => (lb.service('web')!.admission.length === 1 ? true : undefined));
  const third = await dial({ port });
  assert.equal((await closed(third)).error, undefined);
  assert.equal(await rejected(lb, 'queue-full'), 1);
  first.destroy();
  second.destroy();
});

test('a service with maxConnections 1 queues the second client until the first closes', T, async (t) => {
  const { lb, port } = await start(t, { maxConnections: 1 });
  const first = await dial({ port });
  first.write('a');
  await readBytes(first, 1);
  const second = await dial({ port });
  second.write('b');
  await until('queued', () => (lb.service('web')!.admission.length === 1 ? true : undefined));
  const answer = readBytes(second, 1);
  first.destroy();
  assert.equal((await answer).toString(), 'b');
  second.destroy();
});

test('unavailableReply: a client no backend can take reads the reply, then the close; maxLifetime ends a connection with a FIN each way', T, async (t) => {
  const { refusedPort } = await import('../helpers/net.ts');
  const reply = 'HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: 52\r\nConnection: close\r\n\r\n{"status":"error","data":"error no available server"}';
  const lb = await Fulcrum.start(
    makeConfig({
      admin: { host: '127.0.0.1', port: 0 },
      services: [makeService({ name: 'down', listen: { host: '127.0.0.1', port: 0 }, backends: [backendAt(await refusedPort())], health: { intervalMs: 0 }, passive: { maxFails: 0 }, retries: 0, unavailableReply: reply })],
    }),
  );
  t.after(() => lb.destroy());
  // As curl would: the request goes first, unread by the proxy; the reply still arrives whole.
  const c = await dial({ port: lb.service('down')!.address!.port, allowHalfOpen: true });
  c.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  const { readAll } = await import('../helpers/net.ts');
  assert.equal((await readAll(c)).toString(), reply);

  const { lb: lived, port } = await start(t, { maxLifetimeMs: 300 });
  const client = await dial({ port, allowHalfOpen: true });
  client.write('hi');
  await readBytes(client, 2);
  const started = Date.now();
  const ended = closed(client);
  await once(client, 'end');
  assert.ok(Date.now() - started >= 150, `ended after ${Date.now() - started} ms`);
  client.end();
  assert.equal((await ended).error, undefined, 'a FIN, not a reset');
  assert.match((await adminClient(lived.adminAddress).get('/metrics')).text, /^fulcrum_max_lifetime_closes_total\{service="web"\} 1$/m);
});

test('the stream data plane applies the same controls: deny, the queue and unavailableReply', T, async (t) => {
  const echo = await startDemoBackend('echo');
  t.after(() => echo.close());
  const lb = await Fulcrum.start(
    makeConfig({
      admin: { host: '127.0.0.1', port: 0 },
      dataPlane: 'stream',
      services: [makeService({
        name: 'web', listen: { host: '127.0.0.1', port: 0 }, backends: [{ ...backendAt(echo.address.port), maxConnections: 1 }], health: { intervalMs: 0 },
        deny: [parseCidr('deny', '127.0.0.2')], limits: { maxConnectionsPerIp: 2, connectionRatePerIp: undefined }, queue: { size: 1, timeoutMs: 200 }, unavailableReply: 'busy\r\n',
      })],
    }),
  );
  t.after(() => lb.destroy());
  const port = lb.service('web')!.address!.port;
  assert.equal(await served(port, '127.0.0.2'), false, 'denied');
  const first = await dial({ port, localAddress: '127.0.0.3' });
  first.write('1');
  assert.equal((await readBytes(first, 1)).toString(), '1');
  // The backend is full: a second client waits, and is served when the first closes.
  const second = await dial({ port, localAddress: '127.0.0.4' });
  second.write('2');
  await until('queued', () => (lb.service('web')!.admission.length === 1 ? true : undefined));
  // A third finds the line full and reads the reply.
  const third = await dial({ port, localAddress: '127.0.0.5', allowHalfOpen: true });
  const { readAll } = await import('../helpers/net.ts');
  assert.equal((await readAll(third)).toString(), 'busy\r\n');
  const answer = readBytes(second, 1);
  first.destroy();
  assert.equal((await answer).toString(), '2');
  second.destroy();
  assert.match((await adminClient(lb.adminAddress).get('/metrics')).text, /^fulcrum_connections_rejected_total\{service="web",reason="queue-full"\} 1$/m);
  assert.match((await adminClient(lb.adminAddress).get('/metrics')).text, /^fulcrum_connections_rejected_total\{service="web",reason="denied"\} 1$/m);
});
