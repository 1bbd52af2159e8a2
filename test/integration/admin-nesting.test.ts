/** Deeply nested JSON is the client's mistake: a 400 JSend fail, nothing logged as a server error, the registry unchanged. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { adminClient } from '../helpers/admin-client.ts';
import { startProxy } from '../helpers/proxy.ts';

const T = { timeout: 15_000 };

test('a body nested 30,000 deep is a 400, not a 500 with a stack in the log', T, async (t) => {
  const errors: string[] = [];
  const log = pino({ level: 'error' }, { write: (s: string) => void errors.push(s) });
  const lb = await startProxy(t, {}, { log });
  const api = adminClient(lb.adminAddress);
  await api.post('/register', { address: '127.0.0.1:9001' });
  const id = (await api.backends())[0].id;
  const arrays = '['.repeat(30_000) + ']'.repeat(30_000);
  const objects = '{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000);
  for (const [method, path, body] of [
    ['POST', '/register', `{"address":"127.0.0.1:9002","weight":${arrays}}`],
    ['POST', '/register', `{"address":"127.0.0.1:9002","weight":${objects}}`],
    ['POST', '/deregister', `{"address":${arrays}}`],
    ['PATCH', `/backends/${id}`, `{"state":${arrays}}`],
    ['POST', '/register', arrays],
  ] as const) {
    const res = await api.request(method, path, { body });
    assert.equal(res.status, 400, `${method} ${path}: ${res.text}`);
    assert.equal(res.body.status, 'fail');
    assert.match(res.body.data.title, /^body nests over 999 levels deep \(at most 32\)/);
  }
  // Brackets inside strings (escaped quotes too) are text, not nesting.
  const quoted = await api.request('POST', '/register', { body: `{"address":"\\"${'['.repeat(100)}"}` });
  assert.equal(quoted.status, 400);
  assert.match(quoted.body.data.title, /^address: /);
  assert.deepEqual(errors, []);
  assert.deepEqual((await api.backends()).map((b) => b.address), ['127.0.0.1:9001']);
});
