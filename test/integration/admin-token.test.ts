/**
 * Admin tokens as people write them: with spaces inside, in UTF-8. The bytes
 * after `Bearer ` are compared as sent; a token no client could send is
 * refused at start-up with one line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { rawAdminRequest } from '../helpers/admin-client.ts';
import { exitOf, startCli } from '../helpers/cli.ts';

const T = { timeout: 25_000 };

/** GET /backends over a raw socket: a string goes out as its UTF-8 bytes, as curl sends it; a Buffer as is. */
async function statusWith(adminPort: number, authorization: string | Buffer): Promise<number> {
  const bytes = Buffer.concat([
    Buffer.from('GET /backends HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nAuthorization: '),
    typeof authorization === 'string' ? Buffer.from(authorization, 'utf8') : authorization,
    Buffer.from('\r\n\r\n'),
  ]);
  const answer = await rawAdminRequest({ port: adminPort } as AddressInfo, bytes.toString('latin1'), 'latin1');
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1]);
}

test('--admin-token with a space inside: "Bearer my secret" is let in, others are not', T, async (t) => {
  const cli = await startCli(t, ['--admin-token', 'my secret', '--health-interval', '0', '--log-level', 'silent']);
  assert.equal(await statusWith(cli.adminPort, 'Bearer my secret'), 200);
  assert.equal(await statusWith(cli.adminPort, 'bearer   my secret'), 200);
  assert.equal(await statusWith(cli.adminPort, 'Bearer my'), 401);
  assert.equal(await statusWith(cli.adminPort, 'Bearer my  secret'), 401);
  assert.equal(await statusWith(cli.adminPort, 'Bearer my secretx'), 401);
});

test('a UTF-8 token matches its UTF-8 bytes, not their latin1 reading', T, async (t) => {
  const token = 'pässwörd-🔑';
  const cli = await startCli(t, ['--health-interval', '0', '--log-level', 'silent'], { env: { FULCRUM_ADMIN_TOKEN: token } });
  assert.equal(await statusWith(cli.adminPort, `Bearer ${token}`), 200);
  assert.equal(await statusWith(cli.adminPort, Buffer.from(`Bearer ${token}`.replace('🔑', ''), 'latin1')), 401);
  assert.equal(await statusWith(cli.adminPort, Buffer.from(`Bearer p\u00e4sswörd-`, 'latin1')), 401);
});

for (const [args, env, message] of [
  [['--admin-token', ' padded'], {}, /^fulcrum: --admin-token: starts or ends with whitespace/],
  [['--admin-token', 'tab\tinside'], {}, /^fulcrum: --admin-token: contains a control character/],
  [[], { FULCRUM_ADMIN_TOKEN: 'line\nbreak' }, /^fulcrum: FULCRUM_ADMIN_TOKEN: contains a control character/],
] as const) {
  test(`an admin token no client could send is refused at start-up: ${JSON.stringify(args.length ? args[1] : env)}`, T, async () => {
    const { code, stderr, stdout } = await exitOf(['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', ...args], env);
    assert.equal(code, 2);
    assert.match(stderr, message);
    assert.equal(stderr.trim().split('\n').length, 1, stderr);
    assert.equal(stdout, '');
  });
}
