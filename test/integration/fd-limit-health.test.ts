/**
 * Running out of descriptors is this host's trouble: a health probe that
 * cannot get a socket (EMFILE) is not a probe failure, so healthy backends
 * stay up instead of going down and tipping the balancer into panic.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { startCli } from '../helpers/cli.ts';
import { startBackend } from '../helpers/fault-backend.ts';
import { closed, dial } from '../helpers/net.ts';

test('a probe that fails with EMFILE does not take a healthy backend down', { timeout: 30_000 }, async (t) => {
  const backend = await startBackend(() => {}); // holds every connection open, silent
  t.after(() => backend.close());
  const cli = await startCli(t, ['--algo', 'rr', '--health-interval', '20ms', '--fall', '1', '--rise', '1', '--max-fails', '0', '--backend', `127.0.0.1:${backend.port}`], {
    shellPrefix: 'ulimit -n 64 &&',
  });
  let log = '';
  cli.child.stderr!.on('data', (c) => (log += c));
  const lines = () => log.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { msg: string; to?: string; reason?: string });
  while (!lines().some((l) => l.msg === 'backend health changed' && l.to === 'up')) await once(cli.child.stderr!, 'data');

  // Idle admin connections, as in the report, until one is closed unanswered: the process is out of
  // descriptors (libuv then accepts and drops further connections). Keep-alive holds the answered
  // ones open for 5 s, far longer than the 20 ms to the next probe.
  const clients: Socket[] = [];
  t.after(() => clients.forEach((c) => c.destroy()));
  let refused = false;
  for (let i = 0; i < 64 && !refused; i++) {
    const c = await dial({ port: cli.adminPort });
    clients.push(c);
    c.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    refused = (await Promise.race([closed(c).then(() => 'closed'), once(c, 'data').then(() => 'served', () => 'closed')])) === 'closed';
  }
  assert.ok(refused, 'the admin API never ran out of descriptors under ulimit -n 64');
  // Out of descriptors; the next probe meets EMFILE. Whichever it logs first decides.
  const verdict = () => lines().find((l) => (l.msg === 'backend health changed' && l.to === 'down') || /local error/.test(l.msg));
  while (!verdict()) await once(cli.child.stderr!, 'data');
  assert.match(verdict()!.msg, /^health probe could not be made \(local error\); not counted$/, JSON.stringify(verdict()));
  assert.equal(verdict()!.reason, 'EMFILE');
});
