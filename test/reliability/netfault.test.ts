/**
 * Real network faults (issue 16): backends live in a network namespace made by
 * the test, behind a veth pair, and the kernel makes the faults: SYNs dropped
 * by iptables, 5% of packets dropped at random (xt_statistic), a link set
 * down mid-transfer, and a 200 ms delay (netem where the kernel has it; on
 * Firecracker's kernel, which has none, a tun link through delay-link.py).
 * Fulcrum runs in the root namespace; what is asserted is what a user sees:
 * the bytes that arrive (sha256), timings, and the counters of /metrics and
 * GET /backends.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { adminClient, type AdminClient } from '../helpers/admin-client.ts';
import { metrics } from '../helpers/metrics.ts';
import { closed, dial, readAll, sha256 } from '../helpers/net.ts';
import { hasNetem, makeNetns, NETNS_SKIP, sh } from '../helpers/netns.ts';
import { startProxy } from '../helpers/proxy.ts';
import { until } from '../helpers/wait.ts';

const T = { timeout: 120_000, skip: NETNS_SKIP };

async function backendsByAddress(api: AdminClient): Promise<Map<string, any>> {
  return new Map((await api.backends()).map((b) => [b.address, b]));
}

/** Sends `data` with a FIN and resolves with what came back and how long it took. */
async function echoThrough(port: number, data: Buffer): Promise<{ back: Buffer; ms: number }> {
  const started = performance.now();
  const socket = await dial({ port, allowHalfOpen: true });
  const back = readAll(socket);
  socket.end(data);
  return { back: await back, ms: performance.now() - started };
}

test('a backend that drops SYNs: the connect times out, the next backend gets the client bytes intact', T, async (t) => {
  const ns = await makeNetns(t);
  const [dead, live] = [await ns.backend(), await ns.backend()];
  ns.exec('iptables', '-A', 'INPUT', '-p', 'tcp', '--dport', String(dead.port), '--syn', '-j', 'DROP');
  const lb = await startProxy(t, {
    algo: 'round-robin',
    backends: [{ host: ns.address, port: dead.port, weight: 1 }, { host: ns.address, port: live.port, weight: 1 }],
    connectTimeoutMs: 300,
    retries: 1,
    passive: { maxFails: 0 },
  });
  const api = adminClient(lb.adminAddress);
  const times = [];
  for (let i = 0; i < 4; i++) {
    const data = randomBytes(256 * 1024 + i);
    const { back, ms } = await echoThrough(lb.proxyAddress.port, data);
    assert.equal(sha256(back), sha256(data), `connection ${i}: the bytes sent while the first connect hung arrived intact`);
    times.push(ms);
  }
  const m = await metrics(api);
  const deadKey = `${ns.address}:${dead.port}`;
  const liveKey = `${ns.address}:${live.port}`;
  // Every connection that tried the dead backend first waited out the 300 ms connect timeout, then was retried.
  const retried = m('fulcrum_retries_total');
  assert.ok(retried >= 2, `round robin put the dead backend first at least every other time (${retried})`);
  assert.equal(m('fulcrum_backend_connect_failures_total', { backend: deadKey }), retried);
  assert.ok(times.filter((ms) => ms >= 300).length >= retried, `times: ${times.map(Math.round)}`);
  assert.equal(m('fulcrum_backend_connections_total', { backend: liveKey }), 4);
  assert.equal(m('fulcrum_backend_bytes_in_total', { backend: liveKey }), 4 * 256 * 1024 + 6);
  const dropped = Number(/^\s*(\d+)/m.exec(ns.exec('iptables', '-L', 'INPUT', '-v', '-x', '-n').split('\n')[2]!)?.[1]);
  assert.ok(dropped >= 2, `the kernel dropped SYNs (${dropped})`);
  const byAddress = await backendsByAddress(api);
  assert.equal(byAddress.get(deadKey).activeConnections, 0);
  assert.equal(byAddress.get(liveKey).activeConnections, 0);
});

test('a link with 200 ms delay: health checks with a shorter timeout fail, longer ones pass; connects take the round trip', T, async (t) => {
  const ns = await makeNetns(t, { delayMs: 200 });
  t.diagnostic(hasNetem('lo') ? 'delay by netem' : 'no netem in this kernel: delay by a tun link (delay-link.py)');
  const b = await ns.backend();
  const backend = { host: ns.address, port: b.port, weight: 1 };
  const key = `${ns.address}:${b.port}`;

  // Health: one probe is a connect, one round trip (200 ms).
  const impatient = await startProxy(t, { backends: [backend], health: { intervalMs: 100, timeoutMs: 100, rise: 1, fall: 1 } });
  const patient = await startProxy(t, { backends: [backend], health: { intervalMs: 100, timeoutMs: 1000, rise: 1, fall: 1 } });
  await until('the impatient check to mark the backend down', async () => ((await backendsByAddress(adminClient(impatient.adminAddress))).get(key).health === 'down' ? true : undefined), 10_000);
  await until('the patient check to mark it up', async () => ((await backendsByAddress(adminClient(patient.adminAddress))).get(key).health === 'up' ? true : undefined), 10_000);
  assert.equal((await metrics(adminClient(impatient.adminAddress)))('fulcrum_backend_up', { backend: key }), 0);
  assert.equal((await metrics(adminClient(patient.adminAddress)))('fulcrum_backend_up', { backend: key }), 1);

  // Connect timing: the connect's round trip (200 ms) and the echo's (200 ms) before the first byte comes back.
  const lb = await startProxy(t, { backends: [backend], connectTimeoutMs: 2000 });
  const data = randomBytes(1000);
  const { back, ms } = await echoThrough(lb.proxyAddress.port, data);
  assert.equal(sha256(back), sha256(data));
  assert.ok(ms >= 400, `echo through a 200 ms link in ${Math.round(ms)} ms`);

  // A connect timeout shorter than the round trip fails the connect.
  const hasty = await startProxy(t, { backends: [backend], connectTimeoutMs: 100, retries: 0 });
  const refused = await dial({ port: hasty.proxyAddress.port });
  const started = performance.now();
  refused.write('lost');
  const { error } = await closed(refused);
  assert.ok(error === undefined || error.code === 'ECONNRESET', String(error));
  assert.ok(performance.now() - started >= 90, 'closed after the connect timeout');
  assert.equal((await metrics(adminClient(hasty.adminAddress)))('fulcrum_backend_connect_failures_total', { backend: key }), 1);
});

test('5% packet loss both ways: a 50 MB transfer arrives intact, and the counters say 50 MB', { ...T, timeout: 240_000 }, async (t) => {
  const ns = await makeNetns(t);
  const b = await ns.backend();
  // One packet per segment (no GSO super-packets), so that 5% of packets is 5% of what a wire would carry.
  for (const dev of [ns.inner]) ns.exec('ip', 'link', 'set', 'dev', dev, 'gso_max_segs', '1');
  sh('ip', ['link', 'set', 'dev', ns.outer, 'gso_max_segs', '1']);
  for (const chain of ['INPUT', 'OUTPUT']) ns.exec('iptables', '-A', chain, '-m', 'statistic', '--mode', 'random', '--probability', '0.05', '-j', 'DROP');
  const lb = await startProxy(t, { backends: [{ host: ns.address, port: b.port, weight: 1 }] });
  const data = randomBytes(50 * 1024 * 1024);
  const { back } = await echoThrough(lb.proxyAddress.port, data);
  assert.equal(back.length, data.length);
  assert.equal(sha256(back), sha256(data));
  const key = `${ns.address}:${b.port}`;
  const api = adminClient(lb.adminAddress);
  await until('the connection to be counted', async () => ((await backendsByAddress(api)).get(key).activeConnections === 0 ? true : undefined));
  const m = await metrics(api);
  assert.equal(m('fulcrum_backend_bytes_in_total', { backend: key }), data.length);
  assert.equal(m('fulcrum_backend_bytes_out_total', { backend: key }), data.length);
  const drops = ns.exec('iptables', '-L', '-v', '-x', '-n').split('\n').filter((l) => /statistic/.test(l)).map((l) => Number(/^\s*(\d+)/.exec(l)![1]));
  assert.ok(drops.length === 2 && drops.every((d) => d > 1000), `packets the kernel dropped: ${drops}`);
  t.diagnostic(`packets dropped in/out: ${drops.join('/')}`);
});

test('a link cut mid-transfer: the client sees a reset or a close, and every counter goes back to exact', T, async (t) => {
  const ns = await makeNetns(t);
  const b = await ns.backend();
  const key = `${ns.address}:${b.port}`;
  const lb = await startProxy(t, { backends: [{ host: ns.address, port: b.port, weight: 1 }], idleTimeoutMs: 1000, tcpKeepAliveMs: 0 });
  const api = adminClient(lb.adminAddress);
  const socket = await dial({ port: lb.proxyAddress.port });
  let received = 0;
  socket.on('data', (c: Buffer) => (received += c.length));
  const chunk = randomBytes(64 * 1024);
  let writing = true;
  const pump = () => {
    while (writing && socket.write(chunk));
  };
  socket.on('drain', pump);
  pump();
  await until('1 MB to come back before the cut', () => (received >= 1024 * 1024 ? true : undefined), 20_000);
  assert.equal((await backendsByAddress(api)).get(key).activeConnections, 1);
  const cutAt = performance.now();
  ns.exec('ip', 'link', 'set', ns.inner, 'down');
  const { error } = await closed(socket);
  writing = false;
  const ms = performance.now() - cutAt;
  assert.ok(error === undefined || ['ECONNRESET', 'EPIPE'].includes(error.code!), String(error));
  assert.ok(ms < 10_000, `closed ${Math.round(ms)} ms after the cut`);
  await until('activeConnections back to 0', async () => ((await backendsByAddress(api)).get(key).activeConnections === 0 ? true : undefined));
  const m = await metrics(api);
  assert.equal(m('fulcrum_connections_active'), 0);
  assert.equal(m('fulcrum_backend_active_connections', { backend: key }), 0);
  assert.equal(m('fulcrum_backend_connections_total', { backend: key }), 1);
  assert.equal(m('fulcrum_connections_accepted_total'), 1);
  assert.equal(m('fulcrum_idle_timeouts_total'), 1);
  // What the backend sent back is what the client read, no more: bytes_out counts bytes delivered.
  assert.ok(m('fulcrum_backend_bytes_out_total', { backend: key }) >= received, `${m('fulcrum_backend_bytes_out_total', { backend: key })} < ${received}`);
});
