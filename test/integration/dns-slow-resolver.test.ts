/**
 * One backend's DNS never answers (issue 10, item 2): another backend by name
 * must stay up and its connections must not wait. With `getaddrinfo`, each
 * lookup of the dead name held one of libuv's four pool threads for the
 * resolver's whole timeout, and lookups of the good name queued behind them.
 * The process runs with a private /etc/resolv.conf pointing at a UDP socket
 * of this test that never replies, and a private /etc/hosts for the good name.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo } from 'node:net';
import { startCli } from '../helpers/cli.ts';
import { privateNamespaceSkip, withPrivateFiles } from '../helpers/private-hosts.ts';
import { until } from '../helpers/wait.ts';

const skip = privateNamespaceSkip();

test('a name whose DNS never answers does not delay nor take down a backend by another name', { timeout: 30_000, skip }, async (t) => {
  // A DNS "server" that reads every query and answers none; port 53, since resolv.conf cannot name another.
  const dnsIp = `127.53.${1 + Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`;
  const blackhole = createSocket('udp4');
  let queries = 0;
  blackhole.on('message', () => queries++);
  blackhole.bind(53, dnsIp);
  await once(blackhole, 'listening');
  t.after(() => blackhole.close());

  const server = createServer((s) => s.pipe(s)).listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const port = (server.address() as AddressInfo).port;

  const files = withPrivateFiles(t, {
    hosts: '127.0.0.1 localhost\n127.0.0.1 goodhost\n',
    resolvConf: `nameserver ${dnsIp}\noptions timeout:5 attempts:2\n`,
  });
  const args = ['--log-level', 'silent', '--algo', 'rr', '--health-interval', '100ms', '--health-timeout', '300ms', '--rise', '1', '--fall', '2'];
  const cli = await startCli(t, [...args, '--backend', `slow.example:${port}`, '--backend', `goodhost:${port}`], files);
  const health = async () => {
    const body = (await (await fetch(`${cli.admin}/backends`)).json()) as { data: { backends: Array<{ address: string; health: string }> } };
    return Object.fromEntries(body.data.backends.map((b) => [b.address.split(':')[0], b.health]));
  };
  await until('goodhost up', async () => ((await health())['goodhost'] === 'up' ? true : undefined));

  const seen = new Set<string>();
  const slow: number[] = [];
  const end = Date.now() + 4000;
  while (Date.now() < end) {
    seen.add((await health())['goodhost']!);
    const started = Date.now();
    const socket = connect({ host: '127.0.0.1', port: cli.proxyPort });
    socket.write('ping');
    const [data] = (await Promise.race([once(socket, 'data'), new Promise((r) => setTimeout(r, 2000, [Buffer.from('(none)')]))])) as [Buffer];
    socket.destroy();
    assert.equal(data.toString(), 'ping');
    const ms = Date.now() - started;
    if (ms > 250) slow.push(ms);
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(queries > 0, 'slow.example was looked up through the silent server');
  assert.deepEqual([...seen], ['up'], 'goodhost stayed up the whole time');
  assert.deepEqual(slow, [], 'no round trip through goodhost took over 250 ms');
  assert.notEqual((await health())['slow.example'], 'up');
});
