/**
 * Backends given by a name with several addresses (issue 10, item 1): the
 * data plane tries them all, in the order Node's `autoSelectFamily` uses, and
 * the probes try them the same way, so health and traffic agree. The names
 * live in a private /etc/hosts (a mount namespace, as root), so the process
 * under test resolves them as it would in production.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { startCli, type RunningCli } from '../helpers/cli.ts';
import { privateNamespaceSkip, withPrivateFiles } from '../helpers/private-hosts.ts';
import { until } from '../helpers/wait.ts';

const T = { timeout: 30_000 };
const skip = privateNamespaceSkip();

async function echoServer(t: TestContext, host: string, port = 0): Promise<Server> {
  const server = createServer((s) => s.pipe(s)).listen(port, host);
  await once(server, 'listening');
  t.after(() => server.close());
  return server;
}

/** One round trip through the proxy: resolves with the echo and how long it took. */
async function roundTrip(port: number, message: string): Promise<{ echo: string; ms: number }> {
  const started = Date.now();
  const socket = connect({ host: '127.0.0.1', port });
  socket.write(message); // early bytes: sent before the proxy has a backend
  const echo = await new Promise<string>((resolve) => {
    let got = '';
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => {
      got += c;
      if (got.length >= message.length) resolve(got);
    });
    socket.on('error', () => resolve(got));
    socket.on('close', () => resolve(got));
  });
  socket.destroy();
  return { echo, ms: Date.now() - started };
}

async function backendOf(cli: RunningCli): Promise<{ health: string; failedConnections: number; totalConnections: number }> {
  const body = (await (await fetch(`${cli.admin}/backends`)).json()) as { data: { backends: any[] } };
  return body.data.backends[0];
}

test('a name for ::1 and 127.0.0.1, backend on IPv4 only: every connection gets through and health is up', { ...T, skip }, async (t) => {
  const server = await echoServer(t, '127.0.0.1');
  const port = (server.address() as AddressInfo).port;
  const files = withPrivateFiles(t, { hosts: '127.0.0.1 localhost\n::1 dualhost\n127.0.0.1 dualhost\n' });
  const cli = await startCli(t, ['--log-level', 'silent', '--health-interval', '100ms', '--rise', '1', '--backend', `dualhost:${port}`], files);
  await until('dualhost up', async () => ((await backendOf(cli)).health === 'up' ? true : undefined));

  const echoes: string[] = [];
  for (let i = 0; i < 5; i++) echoes.push((await roundTrip(cli.proxyPort, `hello ${i}`)).echo);
  assert.deepEqual(echoes, ['hello 0', 'hello 1', 'hello 2', 'hello 3', 'hello 4']);
  const backend = await backendOf(cli);
  assert.equal(backend.health, 'up');
  assert.equal(backend.failedConnections, 0, 'the refused ::1 is not a failure of the backend: 127.0.0.1 took the connection');
  assert.equal(backend.totalConnections, 5);
});

test('a name whose first address never answers: the next address takes the connection after the 250 ms attempt timeout', { ...T, skip }, async (t) => {
  // A listener on [::1]:P whose process never accepts: once its queue is full, SYNs to it go unanswered.
  const stuck = spawn(process.execPath, ['-e', `
    const s = require('net').createServer().listen({ host: '::1', port: 0, backlog: 1, ipv6Only: true }, () => {
      process.stdout.write(String(s.address().port) + '\\n');
      setTimeout(() => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0), 50);
    });`], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => stuck.kill('SIGKILL'));
  const [line] = (await once(stuck.stdout!, 'data')) as [Buffer];
  const port = Number(line.toString().trim());
  await new Promise((r) => setTimeout(r, 100));
  const fillers: Socket[] = [];
  t.after(() => fillers.forEach((s) => s.destroy()));
  for (let i = 0; i < 64; i++) {
    const s = connect({ host: '::1', port });
    s.on('error', () => {});
    fillers.push(s);
    const connected = await Promise.race([once(s, 'connect').then(() => true), new Promise((r) => setTimeout(r, 200, false))]);
    if (!connected) break;
    assert.ok(i < 63, 'could not fill the accept queue of the stuck listener');
  }
  await echoServer(t, '127.0.0.1', port);
  const files = withPrivateFiles(t, { hosts: '127.0.0.1 localhost\n::1 slowfirst\n127.0.0.1 slowfirst\n' });
  const cli = await startCli(t, ['--log-level', 'silent', '--health-interval', '200ms', '--health-timeout', '1s', '--rise', '1', '--backend', `slowfirst:${port}`], files);
  await until('slowfirst up', async () => ((await backendOf(cli)).health === 'up' ? true : undefined));

  for (let i = 0; i < 3; i++) {
    const { echo, ms } = await roundTrip(cli.proxyPort, `hi ${i}`);
    assert.equal(echo, `hi ${i}`);
    // 250 ms on ::1, up to one sweep tick (100 ms) late, then 127.0.0.1 at once; well under the 3 s connect timeout.
    assert.ok(ms >= 240 && ms < 1000, `round trip took ${ms} ms`);
  }
  assert.equal((await backendOf(cli)).failedConnections, 0);
});

test('a name none of whose addresses listens: traffic fails and health is down', { ...T, skip }, async (t) => {
  const server = await echoServer(t, '127.0.0.1');
  const port = (server.address() as AddressInfo).port;
  server.close();
  const files = withPrivateFiles(t, { hosts: '::1 deadhost\n127.0.0.1 deadhost\n' });
  const cli = await startCli(t, ['--log-level', 'silent', '--health-interval', '100ms', '--fall', '1', '--backend', `deadhost:${port}`], files);
  await until('deadhost down', async () => ((await backendOf(cli)).health === 'down' ? true : undefined));
  const { echo } = await roundTrip(cli.proxyPort, 'x');
  assert.equal(echo, '');
  assert.equal((await backendOf(cli)).health, 'down');
});
