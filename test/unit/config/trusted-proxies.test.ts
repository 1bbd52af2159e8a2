/**
 * `trustedProxies` is read only with `acceptProxy`; set without it, it is
 * refused with the field named (file: line:col; flags: the flag), never
 * silently ignored.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigFileError, parseConfigText } from '../../../src/config/file.ts';
import { parseCli } from '../../../src/config/cli.ts';
import { ConfigError } from '../../../src/errors.ts';

function errorsOf(text: string): readonly string[] {
  try {
    parseConfigText(text, 'fulcrum.yaml', {});
    return [];
  } catch (err) {
    assert.ok(err instanceof ConfigFileError, String(err));
    return err.errors;
  }
}

const WHY = '(the list says who may send the PROXY header; without acceptProxy no header is read and the list would be ignored)';

test('file: a service\'s trustedProxies without acceptProxy is refused at its line and column', () => {
  assert.deepEqual(errorsOf('services:\n  - name: a\n    listen: 8443\n    trustedProxies: [10.0.0.1]\n'), [
    `fulcrum.yaml:4:21: services[0].trustedProxies: is set but acceptProxy is not true for this service (here or in defaults) ${WHY}`,
  ]);
  assert.deepEqual(errorsOf('services:\n  - name: a\n    listen: 8443\n    acceptProxy: false\n    trustedProxies: [10.0.0.1]\n'), [
    `fulcrum.yaml:5:21: services[0].trustedProxies: is set but acceptProxy is not true for this service (here or in defaults) ${WHY}`,
  ]);
});

test('file: trustedProxies in defaults with no service accepting the header is refused there', () => {
  assert.deepEqual(errorsOf('defaults:\n  trustedProxies: [10.0.0.0/8]\nservices:\n  - name: a\n    listen: 8443\n'), [
    `fulcrum.yaml:2:19: defaults.trustedProxies: is set but no service has acceptProxy: true ${WHY}`,
  ]);
});

test('file: what acceptProxy covers is accepted (in the service, from defaults, defaults list used by one service)', () => {
  assert.deepEqual(errorsOf('services:\n  - name: a\n    listen: 8443\n    acceptProxy: true\n    trustedProxies: [10.0.0.1]\n'), []);
  assert.deepEqual(errorsOf('defaults:\n  acceptProxy: true\nservices:\n  - name: a\n    listen: 8443\n    trustedProxies: [10.0.0.1]\n'), []);
  assert.deepEqual(errorsOf('defaults:\n  trustedProxies: [10.0.0.0/8]\nservices:\n  - name: a\n    listen: 8443\n    acceptProxy: true\n  - name: b\n    listen: 8444\n'), []);
  // An empty list says "any source": nothing to ignore.
  assert.deepEqual(errorsOf('services:\n  - name: a\n    listen: 8443\n    trustedProxies: []\n'), []);
});

test('flags: --trusted-proxy without --accept-proxy is a CLI error naming the flag', async () => {
  await assert.rejects(parseCli(['--backend', '127.0.0.1:9001', '--trusted-proxy', '10.0.0.1']), (err: unknown) => {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.message, '--trusted-proxy: needs --accept-proxy (it says who may send the PROXY header; without --accept-proxy no header is read)');
    return true;
  });
  const ok = await parseCli(['--backend', '127.0.0.1:9001', '--accept-proxy', '--trusted-proxy', '10.0.0.1']);
  assert.equal(ok!.config.services[0]!.trustedProxies!.length, 1);
});
