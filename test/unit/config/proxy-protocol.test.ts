/**
 * `proxyProtocol` in the file: on a service, in defaults, and on a backend
 * (which wins, and may say `none`); what the registry resolves per backend;
 * bad values refused with the field and the line; the printed config
 * reading back the same.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigFileError, parseConfigText } from '../../../src/config/file.ts';
import { printConfig } from '../../../src/config/print.ts';
import { Registry } from '../../../src/backends/registry.ts';
import { createStrategy } from '../../../src/strategies/index.ts';
import { parseRegister } from '../../../src/admin/validate.ts';

const OPTS = { random: Math.random, stickyTtlMs: 0, stickyMaxEntries: 1, now: Date.now };

const FILE = `
defaults: { proxyProtocol: v2 }
services:
  - name: inherits
    listen: 127.0.0.1:0
    backends:
      - 10.0.0.1:80
      - { address: 10.0.0.2:80, proxyProtocol: v1 }
      - { address: 10.0.0.3:80, proxyProtocol: none }
  - name: off
    listen: 127.0.0.1:0
    proxyProtocol: none
    backends:
      - 10.0.0.4:80
      - { address: 10.0.0.5:80, proxyProtocol: v2 }
`;

function resolved(service: { proxyProtocol?: 'v1' | 'v2'; backends: readonly Parameters<Registry['upsert']>[0][] }): string[] {
  const registry = new Registry({ strategy: createStrategy('round-robin', OPTS), initialHealth: 'up', proxyProtocol: service.proxyProtocol });
  for (const b of service.backends) registry.upsert(b, 'file');
  return registry.list().map((b) => `${b.key} ${b.sendProxy ?? 'none'}`);
}

test('a backend\'s proxyProtocol wins over its service\'s (and defaults); none opts it out; a service\'s none overrides defaults', () => {
  const config = parseConfigText(FILE, 'f.yaml', {});
  const [inherits, off] = config.services;
  assert.equal(inherits!.proxyProtocol, 'v2');
  assert.equal(off!.proxyProtocol, undefined);
  assert.deepEqual(resolved(inherits!), ['10.0.0.1:80 v2', '10.0.0.2:80 v1', '10.0.0.3:80 none']);
  assert.deepEqual(resolved(off!), ['10.0.0.4:80 none', '10.0.0.5:80 v2']);
  assert.deepEqual(parseConfigText(printConfig(config), 'f.yaml', {}), config);
});

test('a reload that changes the service\'s proxyProtocol re-resolves every backend without its own', () => {
  const registry = new Registry({ strategy: createStrategy('round-robin', OPTS), initialHealth: 'up' });
  registry.upsert({ host: '10.0.0.1', port: 80, weight: 1 });
  registry.upsert({ host: '10.0.0.2', port: 80, weight: 1, proxyProtocol: 'none' });
  registry.upsert({ host: '10.0.0.3', port: 80, weight: 1, proxyProtocol: 'v1' });
  const sends = () => registry.list().map((b) => b.sendProxy ?? 'none');
  assert.deepEqual(sends(), ['none', 'none', 'v1']);
  registry.setProxyProtocol('v2');
  assert.deepEqual(sends(), ['v2', 'none', 'v1']);
  // Re-registering without the key drops the backend's own setting (the admin route keeps it, see admin.test.ts).
  registry.upsert({ host: '10.0.0.3', port: 80, weight: 1 });
  assert.deepEqual(sends(), ['v2', 'none', 'v2']);
  assert.equal(registry.list()[1]!.toJSON().proxyProtocol, 'none');
  assert.equal(registry.list()[0]!.toJSON().proxyProtocol, 'v2');
});

test('a bad proxyProtocol is refused naming the field and the line, on a backend and on a service', () => {
  const bad = (text: string) => {
    try {
      parseConfigText(text, 'f.yaml', {});
    } catch (err) {
      assert.ok(err instanceof ConfigFileError);
      return err.errors;
    }
    return assert.fail('accepted');
  };
  assert.deepEqual(bad('services:\n  - name: a\n    listen: 0\n    backends:\n      - { address: 10.0.0.1:80, proxyProtocol: v3 }\n'), [
    'f.yaml:5:48: services[0].backends[0].proxyProtocol: "v3" is invalid (use v1, v2 or none)',
  ]);
  assert.deepEqual(bad('services:\n  - name: a\n    listen: 0\n    proxyProtocol: true\n'), ['f.yaml:4:20: services[0].proxyProtocol: true is invalid (use v1, v2 or none)']);
});

test('the admin register body takes proxyProtocol v1, v2 or none and refuses anything else naming the field', () => {
  assert.equal(parseRegister({ address: '127.0.0.1:9001', proxyProtocol: 'v2' }).proxyProtocol, 'v2');
  assert.equal(parseRegister({ address: '127.0.0.1:9001', proxyProtocol: 'none' }).proxyProtocol, 'none');
  assert.equal(parseRegister({ address: '127.0.0.1:9001' }).proxyProtocol, undefined);
  for (const value of ['V2', 2, null, 'v1 ']) {
    assert.throws(() => parseRegister({ address: '127.0.0.1:9001', proxyProtocol: value }), (err: Error & { code?: string; field?: string }) => {
      assert.equal(err.code, 'ERR_CONFIG');
      assert.match(err.message, /proxyProtocol.*is invalid \(use v1, v2 or none\)/);
      return true;
    });
  }
});
