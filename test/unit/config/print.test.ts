import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeConfig, makeService } from '../../../src/config/config.ts';
import { formatDuration } from '../../../src/config/duration.ts';
import { parseConfigText } from '../../../src/config/file.ts';
import { parseDuration } from '../../../src/config/parse.ts';
import { printConfig } from '../../../src/config/print.ts';
import { summarize } from '../../../src/config/summary.ts';

const FILE = `
admin: { listen: "[::1]:9091", token: "s3cret" }
workers: 3
drainTimeout: 1500ms
defaults:
  health: { http: /healthz, interval: 0 }
  passive: { maxFails: 0 }
services:
  - name: web
    listen: 0.0.0.0:8080
    algo: wrr
    idleTimeout: 0
    backends:
      - 127.0.0.1:9001
      - { address: "[::1]:9002", weight: 5 }
      - db.internal:5432@1000
  - name: cache
    listen: 127.0.0.1:6380
    algo: lc
    stickyMaxEntries: 10
    health: { interval: 1.5, rise: 1 }
    backends: [ "127.0.0.1:6379" ]
  - name: empty
    listen: 0
`;

test('printConfig then parseConfigText gives back a deep-equal config', () => {
  const config = parseConfigText(FILE, 'fulcrum.yaml', {});
  assert.deepEqual(parseConfigText(printConfig(config, { showSecrets: true }), 'fulcrum.yaml', {}), config);
  // Without secrets the token is left out, and comes back from the environment.
  const hidden = printConfig(config);
  assert.doesNotMatch(hidden, /s3cret/);
  assert.deepEqual(parseConfigText(hidden, 'fulcrum.yaml', { FULCRUM_ADMIN_TOKEN: 's3cret' }), config);
});

test('the printed config spells out every setting, durations as text', () => {
  const config = parseConfigText('services: [ { name: web, listen: 8080, algo: rr, backends: [ "10.0.0.1:80@2" ] } ]\n', 'f.yaml', {});
  assert.equal(printConfig(config), [
    'admin: { listen: 127.0.0.1:9090 }',
    'workers: 1',
    'drainTimeout: 30s',
    'log: { level: info }',
    'services:',
    '  - name: web',
    '    listen: 0.0.0.0:8080',
    '    algo: round-robin',
    '    connectTimeout: 3s',
    '    retries: 2',
    '    idleTimeout: 10m',
    '    stickyTtl: 10m',
    '    stickyMaxEntries: 100000',
    '    hash: { key: client-ip, table: 65537 }',
    '    hashBalanceFactor: 0',
    '    health: { interval: 2s, timeout: 1s, rise: 2, fall: 3 }',
    '    passive: { maxFails: 3, ejectTime: 5s, maxEjectTime: 5m, maxEjectedPercent: 50 }',
    '    limits: { maxConnectionsPerIp: 0 }',
    '    maxConnections: 0',
    '    queue: { size: 1024, timeout: 5s }',
    '    maxLifetime: 0s',
    '    slowStart: 0s',
    '    allBackups: false',
    '    tcpKeepAlive: 1m',
    '    accessLog: off',
    '    accessLogFormat: json',
    '    backends:',
    '      - 10.0.0.1:80@2',
    '',
  ].join('\n'));
});

test('a config made from flags prints as a file that loads to the same services', () => {
  const config = makeConfig({ listen: { host: '0.0.0.0', port: 8080 }, backends: [{ host: '127.0.0.1', port: 9001, weight: 1 }], configFile: '/x/f.yaml' });
  assert.deepEqual(parseConfigText(printConfig(config), '/x/f.yaml', {}), config);
});

test('formatDuration is read back by parseDuration as the same number', () => {
  for (const ms of [0, 1, 999, 1000, 1500, 60_000, 90_000, 600_000, 3_600_000, 5_400_000, 2 ** 31 - 1]) {
    assert.equal(parseDuration('d', formatDuration(ms), { zeroMeansOff: true }), ms, String(ms));
  }
  assert.deepEqual([3000, 600_000, 1500, 7_200_000].map(formatDuration), ['3s', '10m', '1500ms', '2h']);
});

test('summarize: one line, names, addresses, strategies, singular and plural', () => {
  const web = makeService({ name: 'web', listen: { host: '0.0.0.0', port: 8080 }, algo: 'weighted-round-robin', backends: [{ host: 'a', port: 1, weight: 1 }, { host: 'b', port: 1, weight: 1 }] });
  const cache = makeService({ name: 'cache', listen: { host: '127.0.0.1', port: 6380 }, algo: 'least-connections', backends: [{ host: 'c', port: 1, weight: 1 }] });
  const v6 = makeService({ name: 'v6', listen: { host: '::1', port: 5432 } });
  assert.equal(
    summarize(makeConfig({ services: [web, cache] })),
    'ok: 2 services: web on 0.0.0.0:8080 (weighted-round-robin, 2 backends), cache on 127.0.0.1:6380 (least-connections, 1 backend)',
  );
  assert.equal(summarize(makeConfig({ services: [v6] })), 'ok: 1 service: v6 on [::1]:5432 (power-of-two-choices, 0 backends)');
});
