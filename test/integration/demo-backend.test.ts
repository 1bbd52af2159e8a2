/** The demo backend (tools/backend.ts), which `--demo` runs inside the balancer's process. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { startDemoBackend } from '../../tools/backend.ts';
import { dial, readAll } from '../helpers/net.ts';
import { until } from '../helpers/wait.ts';

const T = { timeout: 15_000 };

test('a probe-like connection (connect, then FIN without a byte) leaves no descriptor behind', T, async (t) => {
  const b = await startDemoBackend('probed');
  t.after(() => b.close());
  for (let i = 0; i < 50; i++) {
    // What a TCP health probe does: connect and hang up at once.
    const s = connect(b.address.port, '127.0.0.1');
    await once(s, 'connect');
    s.destroy();
    await once(s, 'close');
  }
  await until('the demo backend to close its side of 50 probes', async () => ((await b.connections()) === 0 ? true : undefined), 3000);
});

test('echo and HTTP still answer a client that half-closes after its request', T, async (t) => {
  const b = await startDemoBackend('half');
  t.after(() => b.close());
  const echo = await dial({ port: b.address.port, allowHalfOpen: true });
  echo.end('ping');
  assert.equal((await readAll(echo)).toString(), 'ping');
  const http = await dial({ port: b.address.port, allowHalfOpen: true });
  http.end('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.match((await readAll(http)).toString(), /\r\n\r\nhello from half\n$/);
  await until('the demo backend to close both connections', async () => ((await b.connections()) === 0 ? true : undefined), 3000);
});
