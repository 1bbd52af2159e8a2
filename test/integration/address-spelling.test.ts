/**
 * One server, one backend, however its address is spelled: the admin API and
 * the flags canonicalize hosts before they become keys, so a second spelling
 * updates the backend instead of adding another, and `/deregister` finds it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backendId } from '../../src/backends/backend.ts';
import { adminClient } from '../helpers/admin-client.ts';
import { startCli } from '../helpers/cli.ts';
import { startProxy } from '../helpers/proxy.ts';

const T = { timeout: 15_000 };
const P = 9001;

test('spellings of 127.0.0.1 make one backend; spellings of localhost make one; deregister takes any spelling', T, async (t) => {
  const lb = await startProxy(t);
  const api = adminClient(lb.adminAddress);
  const cases = [
    { address: `127.0.0.1:${P}`, key: `127.0.0.1:${P}`, created: true },
    { address: `127.1:${P}`, key: `127.0.0.1:${P}`, created: false },
    { address: `[::ffff:127.0.0.1]:${P}`, key: `127.0.0.1:${P}`, created: false },
    { address: `tcp://0x7f.0.0.1:${P}`, key: `127.0.0.1:${P}`, created: false },
    { address: `LOCALHOST:${P}`, key: `localhost:${P}`, created: true },
    { address: `localhost.:${P}`, key: `localhost:${P}`, created: false },
    { address: `[2001:DB8:0:0:0:0:0:1]:${P}`, key: `[2001:db8::1]:${P}`, created: true },
    { address: `[2001:db8::0:1]:${P}`, key: `[2001:db8::1]:${P}`, created: false },
  ];
  for (const { address, key, created } of cases) {
    const res = await api.post('/register', { address });
    assert.equal(res.status, 200, `${address}: ${res.text}`);
    assert.deepEqual([res.body.data.backend.address, res.body.data.backend.id, res.body.data.created], [key, backendId(key), created], address);
  }
  assert.deepEqual((await api.backends()).map((b) => b.address), [`127.0.0.1:${P}`, `localhost:${P}`, `[2001:db8::1]:${P}`]);

  for (const address of [`[::FFFF:7f00:1]:${P}`, `Localhost.:${P}`, `[2001:db8:0::1]:${P}`]) {
    const res = await api.post('/deregister', { address });
    assert.equal(res.status, 200, `${address}: ${res.text}`);
  }
  assert.deepEqual(await api.backends(), []);
});

test('an all-numeric host that is no IPv4 address is refused, not kept as a name', T, async (t) => {
  const lb = await startProxy(t);
  const res = await adminClient(lb.adminAddress).post('/register', { address: `1.2.3.999:${P}` });
  assert.equal(res.status, 400);
  assert.match(res.body.data.title, /^address: "1\.2\.3\.999:9001" has an invalid IPv4 address/);
});

test('--backend spellings of one server make one backend at start-up', T, async (t) => {
  const cli = await startCli(t, ['--health-interval', '0', '--log-level', 'silent', '--backend', `127.1:${P}`, '--backend', `[::ffff:127.0.0.1]:${P}@3`, '--backend', `LocalHost.:${P}`]);
  const res = (await (await fetch(`${cli.admin}/backends`)).json()) as { data: { backends: Array<{ address: string; weight: number }> } };
  assert.deepEqual(res.data.backends.map((b) => [b.address, b.weight]), [[`127.0.0.1:${P}`, 3], [`localhost:${P}`, 1]]);
});
