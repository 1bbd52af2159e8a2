import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAccessLogTarget } from '../../../src/config/access-log-target.ts';

test('accessLog: off, stdout, stderr and a path in an existing directory are taken as given', () => {
  for (const v of ['off', 'stdout', 'stderr', join(tmpdir(), 'access.log'), 'access.log']) assert.equal(parseAccessLogTarget('accessLog', v), v);
});

test('accessLog: an empty value or a path whose directory is missing is refused, naming the field', () => {
  assert.throws(() => parseAccessLogTarget('--access-log', ' '), { message: '--access-log: is empty (use off, stdout, stderr or a file path)' });
  assert.throws(() => parseAccessLogTarget('accessLog', '/nonexistent-fulcrum/a.log'), { message: 'accessLog: "/nonexistent-fulcrum/a.log": its directory /nonexistent-fulcrum does not exist' });
  assert.throws(() => parseAccessLogTarget('accessLog', '/etc/hostname/a.log'), { message: 'accessLog: "/etc/hostname/a.log": /etc/hostname is not a directory' });
});

test('--access-log-format: unset, it follows the log format (text for pretty, json for json); given, it wins', async () => {
  const { parseCli } = await import('../../../src/config/cli.ts');
  const format = async (...args: string[]) => (await parseCli(['--access-log', 'stdout', ...args]))!.config.services[0]!.accessLogFormat;
  assert.equal(await format('--log-format', 'pretty'), 'text');
  assert.equal(await format('--log-format', 'json'), 'json');
  assert.equal(await format('--log-format', 'pretty', '--access-log-format', 'json'), 'json');
  assert.equal(await format('--log-format', 'json', '--access-log-format', 'text'), 'text');
  await assert.rejects(format('--access-log-format', 'xml'), { message: '--access-log-format: "xml" is invalid (use json or text)' });
  assert.equal((await parseCli([]))!.config.services[0]!.accessLog, 'off');
});
