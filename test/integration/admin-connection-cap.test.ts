/** The admin API holds at most 256 connections, so idle admin clients cannot take the descriptors the proxy needs. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { closed, dial, readAll } from '../helpers/net.ts';
import { startProxy } from '../helpers/proxy.ts';

async function healthz(port: number): Promise<string> {
  const socket = await dial({ port });
  socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
  return (await readAll(socket)).toString();
}

test('the 257th admin connection is closed at once; after one closes, requests are served again', { timeout: 20_000 }, async (t) => {
  const lb = await startProxy(t);
  const port = lb.adminAddress.port;
  const idle: Socket[] = [];
  t.after(() => idle.forEach((s) => s.destroy()));
  for (let i = 0; i < 256; i++) idle.push(await dial({ port }));
  // Accepted in order, so the first 256 hold every slot and this one is over the cap.
  assert.equal(await healthz(port), '', 'a connection over the cap was served');

  const first = idle.shift()!;
  first.destroy();
  await closed(first);
  // The server learns of the close on its own turn of the loop: until then a new connection is
  // still over the cap and closed unanswered, so try again (raw sockets: fetch retries by itself).
  for (let i = 0; ; i++) {
    const answer = await healthz(port);
    if (answer !== '') {
      assert.match(answer, /^HTTP\/1\.1 200 /);
      break;
    }
    assert.ok(i < 100, 'the admin API never served again');
  }
});
