/** `store:` in the file and `--store` on the command line: what each form gives, and each mistake named by field and line. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCli } from '../../../src/config/cli.ts';
import { ConfigFileError, parseConfigText } from '../../../src/config/file.ts';
import { STORE_DEFAULTS } from '../../../src/config/store.ts';

const SERVICES = 'services:\n  - { name: web, listen: 127.0.0.1:0 }\n';

function errorsOf(text: string): readonly string[] {
  try {
    parseConfigText(text, 'fulcrum.yaml', {});
    return [];
  } catch (err) {
    assert.ok(err instanceof ConfigFileError, String(err));
    return err.errors;
  }
}

test('store: a URL, rediss with a password, or Sentinel with the timings', () => {
  assert.deepEqual(parseConfigText(`store: redis://127.0.0.1:6379/2\n${SERVICES}`, 'f.yaml', {}).store, {
    ...STORE_DEFAULTS, url: 'redis://127.0.0.1:6379/2', sentinels: undefined, name: undefined, password: undefined,
  });
  assert.equal(parseConfigText(`store: { url: "rediss://u:p@redis.internal:6380/0" }\n${SERVICES}`, 'f.yaml', {}).store?.url, 'rediss://u:p@redis.internal:6380/0');
  assert.deepEqual(parseConfigText(`store:\n  sentinels: [10.0.0.1:26379, "[::1]:26380"]\n  name: mymaster\n  db: 3\n  resyncInterval: 10s\n  startupTimeout: 500ms\n  heartbeatInterval: 1s\n${SERVICES}`, 'f.yaml', {}).store, {
    url: undefined,
    sentinels: [{ host: '10.0.0.1', port: 26379 }, { host: '::1', port: 26380 }],
    name: 'mymaster',
    db: 3,
    password: undefined,
    resyncIntervalMs: 10_000,
    startupTimeoutMs: 500,
    heartbeatIntervalMs: 1_000,
  });
  assert.equal(parseConfigText(SERVICES, 'f.yaml', {}).store, undefined);
});

test('store: each mistake is one line naming the field', () => {
  const cases: [string, string][] = [
    ['store: http://127.0.0.1:6379\n', 'fulcrum.yaml:1:8: store: "http:" is not a Redis scheme (use redis://host:port/db or rediss://host:port/db)'],
    ['store: redis://127.0.0.1:6379/x\n', 'fulcrum.yaml:1:8: store: database "x" is invalid (use a number, e.g. /0)'],
    ['store: { sentinels: [10.0.0.1:26379] }\n', 'fulcrum.yaml:1:8: store.name: missing (required with `sentinels`)'],
    ['store: { resyncInterval: 10s }\n', 'fulcrum.yaml:1:8: store: needs `url` or `sentinels` (with `name`)'],
    ['store: { url: "redis://a:1/0", sentinels: [10.0.0.1:26379], name: m }\n', 'fulcrum.yaml:1:43: store.sentinels: takes `url` or `sentinels`, not both'],
    ['store: { url: "redis://a:1/0", startupTimeout: 0 }\n', 'fulcrum.yaml:1:48: store.startupTimeout: "0" is invalid: under the 1ms minimum (use 1ms or more)'],
  ];
  for (const [text, error] of cases) assert.deepEqual(errorsOf(text + SERVICES), [error], text);
});

test('--store takes a URL, and is refused with the flag named', async () => {
  const r = await parseCli(['--store', 'redis://127.0.0.1:6379/0']);
  assert.equal(r?.config.store?.url, 'redis://127.0.0.1:6379/0');
  await assert.rejects(parseCli(['--store', '127.0.0.1:6379']), { message: '--store: "127.0.0.1:6379" is not a URL (use redis://host:port/db or rediss://host:port/db)' });
  await assert.rejects(parseCli(['--store', 'redis://']), { message: '--store: "redis://" has no host (use redis://host:port/db or rediss://host:port/db)' });
  assert.equal((await parseCli([]))?.config.store, undefined);
});
