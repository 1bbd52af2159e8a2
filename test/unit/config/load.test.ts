import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { makeService, SERVICE_DEFAULTS, type FulcrumConfig } from '../../../src/config/config.ts';
import { loadConfigFile, parseConfigText } from '../../../src/config/file.ts';

const ISSUE_EXAMPLE = `
admin: { listen: 127.0.0.1:9091, token: "s3cret" }
workers: 2
drainTimeout: 45s
log: { level: debug }
defaults:
  algo: ptc
  connectTimeout: 2s
  retries: 1
  idleTimeout: 5m
  stickyTtl: 20m
  health: { interval: 3s, timeout: 500ms, rise: 4, fall: 5, http: /healthz }
  passive: { maxFails: 7, ejectTime: 10s }
services:
  - name: web
    listen: 0.0.0.0:8080
    algo: wrr
    backends:
      - 127.0.0.1:9001
      - 127.0.0.1:9003@3
      - { address: 127.0.0.1:9002, weight: 5 }
  - name: cache
    listen: 127.0.0.1:6380
    algo: lc
    retries: 0
    health: { interval: 1s }
    passive: { maxEjectTime: 1m }
    backends: [ "127.0.0.1:6379" ]
`;

const EXPECTED: FulcrumConfig = {
  admin: { host: '127.0.0.1', port: 9091 },
  adminToken: 's3cret',
  adminAllowedHosts: [],
  workers: 2,
  dataPlane: 'auto',
  logLevel: 'debug',
  logFormat: undefined,
  drainTimeoutMs: 45_000,
  demo: false,
  services: [
    {
      name: 'web',
      listen: { host: '0.0.0.0', port: 8080 },
      algo: 'weighted-round-robin',
      connectTimeoutMs: 2000,
      retries: 1,
      idleTimeoutMs: 300_000,
      stickyTtlMs: 1_200_000,
      stickyMaxEntries: 100_000,
      hash: { key: 'client-ip', table: 65_537 },
      hashBalanceFactor: 0,
      health: { intervalMs: 3000, timeoutMs: 500, rise: 4, fall: 5, httpPath: '/healthz' },
      passive: { maxFails: 7, ejectBaseMs: 10_000, ejectMaxMs: 300_000, maxEjectedPercent: 50 },
      limits: { maxConnectionsPerIp: 0, connectionRatePerIp: undefined },
      maxConnections: 0,
      queue: { size: 1024, timeoutMs: 5000 },
      maxLifetimeMs: 0,
      unavailableReply: undefined,
      allow: [],
      deny: [],
      slowStartMs: 0,
      allBackups: false,
      tcpKeepAliveMs: 60_000,
      accessLog: 'off',
      accessLogFormat: 'json',
      backends: [
        { host: '127.0.0.1', port: 9001, weight: 1 },
        { host: '127.0.0.1', port: 9003, weight: 3 },
        { host: '127.0.0.1', port: 9002, weight: 5 },
      ],
    },
    {
      name: 'cache',
      listen: { host: '127.0.0.1', port: 6380 },
      algo: 'least-connections',
      connectTimeoutMs: 2000,
      retries: 0,
      idleTimeoutMs: 300_000,
      stickyTtlMs: 1_200_000,
      stickyMaxEntries: 100_000,
      hash: { key: 'client-ip', table: 65_537 },
      hashBalanceFactor: 0,
      // interval from the service, the rest of health from defaults: merged key by key.
      health: { intervalMs: 1000, timeoutMs: 500, rise: 4, fall: 5, httpPath: '/healthz' },
      passive: { maxFails: 7, ejectBaseMs: 10_000, ejectMaxMs: 60_000, maxEjectedPercent: 50 },
      limits: { maxConnectionsPerIp: 0, connectionRatePerIp: undefined },
      maxConnections: 0,
      queue: { size: 1024, timeoutMs: 5000 },
      maxLifetimeMs: 0,
      unavailableReply: undefined,
      allow: [],
      deny: [],
      slowStartMs: 0,
      allBackups: false,
      tcpKeepAliveMs: 60_000,
      accessLog: 'off',
      accessLogFormat: 'json',
      backends: [{ host: '127.0.0.1', port: 6379, weight: 1 }],
    },
  ],
  configFile: resolve('fulcrum.yaml'),
};

test('a YAML file gives the exact config: service keys over defaults, health and passive merged key by key', () => {
  assert.deepEqual(parseConfigText(ISSUE_EXAMPLE, 'fulcrum.yaml', {}), EXPECTED);
});

test('the same file as JSON gives the same config', () => {
  const json = JSON.stringify({
    admin: { listen: '127.0.0.1:9091', token: 's3cret' },
    workers: 2,
    drainTimeout: 45,
    log: { level: 'debug' },
    defaults: { algo: 'power-of-two-choices', connectTimeout: '2s', retries: 1, idleTimeout: '5m', stickyTtl: 1200, health: { interval: 3, timeout: 0.5, rise: 4, fall: 5, http: '/healthz' }, passive: { maxFails: 7, ejectTime: '10s' } },
    services: [
      { name: 'web', listen: '0.0.0.0:8080', algo: 'WRR', backends: ['127.0.0.1:9001', '127.0.0.1:9003@3', { address: '127.0.0.1:9002', weight: 5 }] },
      { name: 'cache', listen: '127.0.0.1:6380', algo: 'least-connections', retries: 0, health: { interval: '1s' }, passive: { maxEjectTime: '1m' }, backends: ['127.0.0.1:6379'] },
    ],
  }, null, 2);
  assert.deepEqual(parseConfigText(json, 'fulcrum.yaml', {}), EXPECTED);
});

test('a minimal file takes every default from SERVICE_DEFAULTS and DEFAULTS', () => {
  const config = parseConfigText('services:\n  - name: db\n    listen: 5432\n', 'fulcrum.yaml', {});
  assert.deepEqual(config, {
    admin: { host: '127.0.0.1', port: 9090 },
    adminToken: undefined,
    adminAllowedHosts: [],
    workers: 1,
    dataPlane: 'auto',
    logLevel: 'info',
    logFormat: undefined,
    drainTimeoutMs: 30_000,
    demo: false,
    services: [makeService({ name: 'db', listen: { host: '0.0.0.0', port: 5432 } })],
    configFile: resolve('fulcrum.yaml'),
  });
  assert.equal(config.services[0]!.algo, SERVICE_DEFAULTS.algo);
});

test('the config is frozen all the way down', () => {
  const config = parseConfigText(ISSUE_EXAMPLE, 'fulcrum.yaml', {});
  const web = config.services[0]!;
  for (const value of [config, config.admin, config.services, web, web.listen, web.health, web.passive, web.backends, web.backends[0]]) {
    assert.ok(Object.isFrozen(value));
  }
});

test('the admin token comes from admin.token, else FULCRUM_ADMIN_TOKEN, else none', () => {
  const text = 'services: [ { name: web, listen: 8080 } ]\n';
  assert.equal(parseConfigText(text, 'f.yaml', {}).adminToken, undefined);
  assert.equal(parseConfigText(text, 'f.yaml', { FULCRUM_ADMIN_TOKEN: 'from-env' }).adminToken, 'from-env');
  assert.equal(parseConfigText(`admin: { token: from-file }\n${text}`, 'f.yaml', { FULCRUM_ADMIN_TOKEN: 'from-env' }).adminToken, 'from-file');
});

test('workers "auto" is one per CPU; admin listen takes a bare port on loopback; $schema is allowed', () => {
  const config = parseConfigText('$schema: ./fulcrum.schema.json\nworkers: auto\nadmin: { listen: 9999 }\nservices: [ { name: web, listen: "[::1]:8080" } ]\n', 'f.yaml', {});
  assert.equal(config.workers, availableParallelism());
  assert.deepEqual(config.admin, { host: '127.0.0.1', port: 9999 });
  assert.deepEqual(config.services[0]!.listen, { host: '::1', port: 8080 });
});

test('loadConfigFile reads a file and records its absolute path', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fulcrum-config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'fulcrum.yaml');
  writeFileSync(file, ISSUE_EXAMPLE);
  assert.deepEqual(loadConfigFile(file, {}), { ...EXPECTED, configFile: file });
});

test('the README example is a valid file', () => {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('## Config file'));
  const example = /```yaml\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(example);
  const config = parseConfigText(example, 'README.md', {});
  assert.deepEqual(config.services.map((s) => [s.name, s.algo, s.backends.length, s.health.intervalMs, s.health.timeoutMs]), [
    ['web', 'weighted-round-robin', 2, 2000, 1000],
    ['cache', 'least-connections', 1, 1000, 1000],
  ]);
});

test('dataPlane: the file picks the data plane for the whole process', () => {
  assert.equal(parseConfigText('dataPlane: stream\nservices: [ { name: web, listen: 8080 } ]\n', 'f.yaml', {}).dataPlane, 'stream');
});
