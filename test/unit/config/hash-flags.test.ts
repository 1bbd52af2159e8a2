import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCli } from '../../../src/config/cli.ts';
import { ConfigError } from '../../../src/errors.ts';

async function serviceOf(argv: string[]) {
  const result = await parseCli(argv);
  assert.ok(result);
  return result.config.services[0]!;
}

async function errorOf(argv: string[]): Promise<string> {
  try {
    await parseCli(argv);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message;
  }
  assert.fail('accepted');
}

test('--algo maglev with --hash-key, --hash-table and --hash-balance-factor set the flags-made service', async () => {
  const s = await serviceOf(['--algo', 'maglev', '--hash-key', 'client-ip-port', '--hash-table', '1009', '--hash-balance-factor', '125', '--backend', '127.0.0.1:1']);
  assert.equal(s.algo, 'maglev');
  assert.deepEqual(s.hash, { key: 'client-ip-port', table: 1009 });
  assert.equal(s.hashBalanceFactor, 125);
});

test('the hash flags default to client-ip, 65537 slots and no bound', async () => {
  const s = await serviceOf(['--algo', 'sih']);
  assert.deepEqual(s.hash, { key: 'client-ip', table: 65_537 });
  assert.equal(s.hashBalanceFactor, 0);
});

test('bad hash flags fail with the flag named and the fix', async () => {
  assert.equal(await errorOf(['--hash-table', '1000']), '--hash-table: 1000 is not a prime (use a prime, e.g. 1009)');
  assert.equal(await errorOf(['--hash-table', '101', '--backend', 'a:1', '--backend', 'b:1']), '--hash-table: 101 slots is too small for 2 backends (use a prime of at least 100 × backends, e.g. 211)');
  assert.equal(await errorOf(['--hash-key', 'ip']), '--hash-key: "ip" is invalid (use client-ip, client-ip-port, sni)');
  assert.equal(await errorOf(['--hash-balance-factor', '50']), '--hash-balance-factor: 50 is invalid (use 0 for no bound, or a percent 101-10000 such as 125)');
});
