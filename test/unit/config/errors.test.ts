import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigFileError, loadConfigFile, parseConfigText } from '../../../src/config/file.ts';

/** The error lines parseConfigText throws for `text`, or [] when it accepts it. */
function errorsOf(text: string, fileName = 'fulcrum.yaml', env: Record<string, string> = {}): readonly string[] {
  try {
    parseConfigText(text, fileName, env);
    return [];
  } catch (err) {
    assert.ok(err instanceof ConfigFileError, `not a ConfigFileError: ${String(err)}`);
    assert.equal(err.code, 'ERR_CONFIG_FILE');
    assert.equal(err.message, err.errors.join('\n'));
    return err.errors;
  }
}

// Each a small broken file and the one exact line it must produce: file:line:col: path: message.
const BROKEN: readonly { name: string; text: string; error: string }[] = [
  { name: 'bad YAML: unclosed flow sequence',
    text: 'services: [ { name: web, listen: 80 }\nworkers: 1\n',
    error: 'fulcrum.yaml:2:1: invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]' },
  { name: 'bad YAML: tab indentation',
    text: 'services:\n\t- name: web\n',
    error: 'fulcrum.yaml:2:1: invalid YAML: Tabs are not allowed as indentation' },
  { name: 'bad YAML: duplicate key',
    text: 'services:\n  - name: web\n    listen: 0.0.0.0:8080\nworkers: 1\nworkers: 2\n',
    error: 'fulcrum.yaml:5:1: invalid YAML: Map keys must be unique' },
  { name: 'bad JSON: unclosed object',
    text: '{ "services": [ { "name": "web", "listen": 80 } ]\n',
    error: 'fulcrum.yaml:2:1: invalid YAML: Flow map must end with a }' },
  { name: 'empty file',
    text: '\n# nothing\n',
    error: 'fulcrum.yaml:1:1: the file is empty (a config file declares at least one service)' },
  { name: 'top level is a list',
    text: '- name: web\n',
    error: 'fulcrum.yaml:1:1: expected a map of settings, got a list' },
  { name: 'missing services',
    text: 'workers: 2\n',
    error: 'fulcrum.yaml:1:1: services: missing (a config file declares at least one service)' },
  { name: 'services empty',
    text: 'services: []\n',
    error: 'fulcrum.yaml:1:11: services: is empty (a config file declares at least one service)' },
  { name: 'services not a list',
    text: 'services: web\n',
    error: 'fulcrum.yaml:1:11: services: expected a list of services, got "web"' },
  { name: 'service not a map',
    text: 'services:\n  - web\n',
    error: 'fulcrum.yaml:2:5: services[0]: expected a map with name, listen and backends, got "web"' },
  { name: 'missing listen',
    text: 'services:\n  - name: web\n    backends: []\n',
    error: 'fulcrum.yaml:2:5: services[0].listen: missing (required)' },
  { name: 'missing name',
    text: 'services:\n  - listen: 8080\n',
    error: 'fulcrum.yaml:2:5: services[0].name: missing (required)' },
  { name: 'name pattern',
    text: 'services:\n  - name: Web_1\n    listen: 8080\n',
    error: 'fulcrum.yaml:2:11: services[0].name: "Web_1" is not a valid name (use lowercase letters, digits, "-" and "_", starting with a letter or digit)' },
  { name: 'name starting with dash',
    text: 'services:\n  - name: -web\n    listen: 8080\n',
    error: 'fulcrum.yaml:2:11: services[0].name: "-web" is not a valid name (use lowercase letters, digits, "-" and "_", starting with a letter or digit)' },
  { name: 'name not a string',
    text: 'services:\n  - name: 42\n    listen: 8080\n',
    error: 'fulcrum.yaml:2:11: services[0].name: expected a name like "web", got 42' },
  { name: 'duplicate names',
    text: 'services:\n  - name: web\n    listen: 0.0.0.0:8080\n  - name: web\n    listen: 8081\n',
    error: 'fulcrum.yaml:4:11: services[1].name: duplicate service name "web" (first at services[0])' },
  { name: 'duplicate listen (canonical)',
    text: 'services:\n  - name: web\n    listen: 0.0.0.0:8080\n  - name: api\n    listen: 0.0.0.0:08080\n',
    error: 'fulcrum.yaml:5:13: services[1].listen: 0.0.0.0:8080 is already the listen address of services[0]' },
  { name: 'two services without sni on one shared (sni) address',
    text: 'services:\n  - name: a\n    listen: 8443\n    sni: [a.test]\n  - name: web\n    listen: 8443\n  - name: api\n    listen: 8443\n',
    error: 'fulcrum.yaml:7:5: services[2].sni: 0.0.0.0:8443 is shared by SNI and "web" already takes what no sni matches: set sni on "api" too, or give it its own listen address' },
  { name: 'one sni name claimed by two services (case-insensitive)',
    text: 'services:\n  - name: a\n    listen: 8443\n    sni: [a.test]\n  - name: b\n    listen: 8443\n    sni: ["*.b.test", A.Test]\n',
    error: 'fulcrum.yaml:7:23: services[1].sni[1]: "a.test" is claimed on 0.0.0.0:8443 by "a" and "b"' },
  { name: 'a bad sni pattern',
    text: 'services:\n  - name: a\n    listen: 8443\n    sni: ["a.*.test"]\n  - name: b\n    listen: 8443\n',
    error: 'fulcrum.yaml:4:11: services[0].sni[0]: "a.*.test" is not a host name or a *.wildcard of one (one leading "*." only, no trailing dot)' },
  { name: 'services sharing an address disagree on acceptProxy',
    text: 'services:\n  - name: a\n    listen: 8443\n    sni: [a.test]\n    acceptProxy: true\n  - name: b\n    listen: 8443\n',
    error: 'fulcrum.yaml:6:5: services[1].acceptProxy: services sharing 0.0.0.0:8443 must agree on acceptProxy ("a" has true, "b" has false)' },
  { name: 'services sharing an address disagree on trustedProxies',
    text: 'services:\n  - name: a\n    listen: 8443\n    sni: [a.test]\n    acceptProxy: true\n    trustedProxies: [10.0.0.1]\n  - name: b\n    listen: 8443\n    acceptProxy: true\n',
    error: 'fulcrum.yaml:7:5: services[1].trustedProxies: services sharing 0.0.0.0:8443 must agree on trustedProxies (set it the same on "a" and "b", or in defaults)' },
  { name: 'listen without port',
    text: 'services:\n  - name: web\n    listen: 10.0.0.5\n',
    error: 'fulcrum.yaml:3:13: services[0].listen: "10.0.0.5" has no port (use host:port)' },
  { name: 'listen port out of range',
    text: 'services:\n  - name: web\n    listen: 0.0.0.0:70000\n',
    error: 'fulcrum.yaml:3:13: services[0].listen: port 70000 is out of range (use 0-65535)' },
  { name: 'listen bare IPv6',
    text: 'services:\n  - name: web\n    listen: ::1:80\n',
    error: 'fulcrum.yaml:3:13: services[0].listen: "::1:80" looks like a bare IPv6 address (write it as [v6]:port)' },
  { name: 'unknown top-level key',
    text: 'services:\n  - name: web\n    listen: 0.0.0.0:8080\nworker: 2\n',
    error: 'fulcrum.yaml:4:1: worker: unknown key (did you mean "workers"?)' },
  { name: 'unknown service key with suggestion',
    text: 'services:\n  - name: web\n    listen: 0.0.0.0:8080\n    helth: { interval: 1s }\n',
    error: 'fulcrum.yaml:4:5: services[0].helth: unknown key (did you mean "health"?)' },
  { name: 'unknown key, no close match',
    text: 'services:\n  - name: web\n    listen: 0.0.0.0:8080\n    colour: blue\n',
    error: 'fulcrum.yaml:4:5: services[0].colour: unknown key (allowed: name, listen, sni, algo, connectTimeout, retries, idleTimeout, stickyTtl, stickyMaxEntries, hash, hashBalanceFactor, health, passive, limits, maxConnections, queue, maxLifetime, unavailableReply, proxyProtocol, acceptProxy, trustedProxies, proxyHeaderTimeout, sniTimeout, allow, deny, slowStart, allBackups, accessLog, accessLogFormat, tcpKeepAlive, backends)' },
  { name: 'snake_case key',
    text: 'defaults:\n  connect_timeout: 3s\nservices:\n  - name: web\n    listen: 0.0.0.0:8080\n',
    error: 'fulcrum.yaml:2:3: defaults.connect_timeout: unknown key (did you mean "connectTimeout"?)' },
  { name: 'unknown nested key',
    text: 'defaults:\n  health: { intreval: 2s }\nservices:\n  - name: web\n    listen: 0.0.0.0:8080\n',
    error: 'fulcrum.yaml:2:13: defaults.health.intreval: unknown key (did you mean "interval"?)' },
  { name: 'unknown backend key',
    text: 'services:\n  - name: web\n    listen: 0.0.0.0:8080\n    backends:\n      - { address: 10.0.0.1:80, wieght: 2 }\n',
    error: 'fulcrum.yaml:5:33: services[0].backends[0].wieght: unknown key (did you mean "weight"?)' },
  { name: 'backend without port (short)',
    text: 'services:\n  - name: web\n    listen: 0.0.0.0:8080\n    backends:\n      - 10.0.0.5\n',
    error: 'fulcrum.yaml:5:9: services[0].backends[0]: "10.0.0.5" has no port (use host:port)' },
  { name: 'backend without port (map)',
    text: 'services:\n  - name: web\n    listen: 0.0.0.0:8080\n    backends:\n      - { address: 10.0.0.5 }\n',
    error: 'fulcrum.yaml:5:20: services[0].backends[0].address: "10.0.0.5" has no port (use host:port)' },
  { name: 'backend port 0',
    text: 'services:\n  - name: web\n    listen: 0.0.0.0:8080\n    backends: [ "10.0.0.5:0" ]\n',
    error: 'fulcrum.yaml:4:17: services[0].backends[0]: "10.0.0.5:0" has port 0 (a backend needs a real port, 1-65535)' },
  { name: 'backend bad host',
    text: 'services:\n  - name: web\n    listen: 0.0.0.0:8080\n    backends: [ "bad_host!:80" ]\n',
    error: 'fulcrum.yaml:4:17: services[0].backends[0]: "bad_host!:80" has an invalid host "bad_host!"' },
  { name: 'backend weight 0 (short)',
    text: 'services:\n  - name: web\n    listen: 0.0.0.0:8080\n    backends: [ "10.0.0.5:80@0" ]\n',
    error: 'fulcrum.yaml:4:17: services[0].backends[0]: weight "0" is invalid (use an integer 1-1000)' },
  { name: 'backend weight too big (map)',
    text: 'services:\n  - name: web\n    listen: 0.0.0.0:8080\n    backends:\n      - address: 10.0.0.5:80\n        weight: 1001\n',
    error: 'fulcrum.yaml:6:17: services[0].backends[0].weight: weight 1001 is invalid (use an integer 1-1000)' },
  { name: 'backend weight not a number',
    text: 'services:\n  - name: web\n    listen: 0.0.0.0:8080\n    backends:\n      - { address: 10.0.0.5:80, weight: heavy }\n',
    error: 'fulcrum.yaml:5:41: services[0].backends[0].weight: expected an integer 1-1000, got "heavy"' },
  { name: 'backend @weight in address',
    text: 'services:\n  - name: web\n    listen: 0.0.0.0:8080\n    backends:\n      - { address: 10.0.0.5:80@3 }\n',
    error: 'fulcrum.yaml:5:20: services[0].backends[0].address: "10.0.0.5:80@3" has a "@weight" (use the weight key)' },
  { name: 'backend a number',
    text: 'services:\n  - name: web\n    listen: 0.0.0.0:8080\n    backends: [ 8080 ]\n',
    error: 'fulcrum.yaml:4:17: services[0].backends[0]: expected "host:port[@weight]" or a map like { address: host:port, weight: 5 }, got 8080' },
  { name: 'duplicate backends',
    text: 'services:\n  - name: web\n    listen: 0.0.0.0:8080\n    backends: [ "10.0.0.5:80", "10.0.0.6:80", "10.0.0.5:80@2" ]\n',
    error: 'fulcrum.yaml:4:47: services[0].backends[2]: 10.0.0.5:80 is listed twice (first at backends[0])' },
  { name: 'backends not a list',
    text: 'services:\n  - name: web\n    listen: 0.0.0.0:8080\n    backends: 10.0.0.5:80\n',
    error: 'fulcrum.yaml:4:15: services[0].backends: expected a list of backends, got "10.0.0.5:80"' },
  { name: 'unknown algo',
    text: 'services:\n  - name: web\n    listen: 0.0.0.0:8080\n    algo: fastest\n',
    error: 'fulcrum.yaml:4:11: services[0].algo: unknown strategy "fastest" (valid: rr|round-robin, wrr|weighted-round-robin, srr|sticky-round-robin, lc|least-connections, ptc|power-of-two-choices, lrt|least-response-time, sih|source-ip-hash, maglev, random)' },
  { name: 'algo not a string',
    text: 'services:\n  - name: web\n    listen: 0.0.0.0:8080\n    algo: [ rr ]\n',
    error: 'fulcrum.yaml:4:11: services[0].algo: expected a strategy name, got a list' },
  { name: 'bad duration',
    text: 'services:\n  - name: web\n    listen: 0.0.0.0:8080\n    connectTimeout: 3 seconds\n',
    error: 'fulcrum.yaml:4:21: services[0].connectTimeout: "3 seconds" is not a duration (use e.g. 500ms, 3s, 10m; a bare number is seconds)' },
  { name: 'negative duration',
    text: 'drainTimeout: -5\nservices:\n  - name: web\n    listen: 0.0.0.0:8080\n',
    error: 'fulcrum.yaml:1:15: drainTimeout: "-5" is invalid: a duration cannot be negative (use e.g. 500ms, 3s, 10m; a bare number is seconds; 0 turns it off)' },
  { name: 'zero connectTimeout',
    text: 'services:\n  - name: web\n    listen: 0.0.0.0:8080\n    connectTimeout: 0s\n',
    error: 'fulcrum.yaml:4:21: services[0].connectTimeout: "0s" is invalid: under the 1ms minimum (use 1ms or more)' },
  { name: 'zero health timeout',
    text: 'defaults:\n  health: { timeout: 0 }\nservices:\n  - name: web\n    listen: 0.0.0.0:8080\n',
    error: 'fulcrum.yaml:2:22: defaults.health.timeout: "0" is invalid: under the 1ms minimum (use 1ms or more)' },
  { name: 'duration as a map',
    text: 'services:\n  - name: web\n    listen: 0.0.0.0:8080\n    idleTimeout: { minutes: 10 }\n',
    error: 'fulcrum.yaml:4:18: services[0].idleTimeout: expected a duration like "500ms", "3s", "10m" or a number of seconds, got a map' },
  { name: 'unknown data plane',
    text: 'dataPlane: raw\nservices:\n  - name: web\n    listen: 0.0.0.0:8080\n',
    error: 'fulcrum.yaml:1:12: dataPlane: "raw" is invalid (use auto, native, stream)' },
  { name: 'retries out of range',
    text: 'services:\n  - name: web\n    listen: 0.0.0.0:8080\n    retries: 101\n',
    error: 'fulcrum.yaml:4:14: services[0].retries: 101 is invalid (use an integer 0-100)' },
  { name: 'retries not an integer',
    text: 'services:\n  - name: web\n    listen: 0.0.0.0:8080\n    retries: 1.5\n',
    error: 'fulcrum.yaml:4:14: services[0].retries: 1.5 is invalid (use an integer 0-100)' },
  { name: 'rise 0',
    text: 'services:\n  - name: web\n    listen: 0.0.0.0:8080\n    health: { rise: 0 }\n',
    error: 'fulcrum.yaml:4:21: services[0].health.rise: 0 is invalid (use an integer 1-100)' },
  { name: 'fall as a string',
    text: 'services:\n  - name: web\n    listen: 0.0.0.0:8080\n    health: { fall: "3" }\n',
    error: 'fulcrum.yaml:4:21: services[0].health.fall: "3" is invalid (use an integer 1-100)' },
  { name: 'maxFails negative',
    text: 'services:\n  - name: web\n    listen: 0.0.0.0:8080\n    passive: { maxFails: -1 }\n',
    error: 'fulcrum.yaml:4:26: services[0].passive.maxFails: -1 is invalid (use an integer 0-1000)' },
  { name: 'health http without slash',
    text: 'services:\n  - name: web\n    listen: 0.0.0.0:8080\n    health: { http: healthz }\n',
    error: 'fulcrum.yaml:4:21: services[0].health.http: "healthz" must be a path starting with "/"' },
  { name: 'health not a map',
    text: 'services:\n  - name: web\n    listen: 0.0.0.0:8080\n    health: fast\n',
    error: 'fulcrum.yaml:4:13: services[0].health: expected a map like { interval: 2s, timeout: 1s }, got "fast"' },
  { name: 'workers 0',
    text: 'workers: 0\nservices:\n  - name: web\n    listen: 0.0.0.0:8080\n',
    error: 'fulcrum.yaml:1:10: workers: 0 is invalid (use an integer 1-256 or "auto")' },
  { name: 'workers "many"',
    text: 'workers: many\nservices:\n  - name: web\n    listen: 0.0.0.0:8080\n',
    error: 'fulcrum.yaml:1:10: workers: "many" is invalid (use an integer 1-256 or "auto")' },
  { name: 'log level',
    text: 'log: { level: loud }\nservices:\n  - name: web\n    listen: 0.0.0.0:8080\n',
    error: 'fulcrum.yaml:1:15: log.level: "loud" is invalid (use fatal, error, warn, info, debug, trace, silent)' },
  { name: 'admin listen',
    text: 'admin: { listen: "localhost:http" }\nservices:\n  - name: web\n    listen: 0.0.0.0:8080\n',
    error: 'fulcrum.yaml:1:18: admin.listen: port "http" is not a number (use 0-65535)' },
  { name: 'admin token empty',
    text: 'admin: { token: "  " }\nservices:\n  - name: web\n    listen: 0.0.0.0:8080\n',
    error: 'fulcrum.yaml:1:17: admin.token: is empty (give a token, or leave it out for an open admin API)' },
  { name: 'hash table not a prime',
    text: 'services:\n  - name: web\n    listen: 0.0.0.0:8080\n    hash: { table: 65536 }\n',
    error: 'fulcrum.yaml:4:20: services[0].hash.table: 65536 is not a prime (use a prime, e.g. 65537)' },
  { name: 'hash table below 100 slots a backend',
    text: 'services:\n  - name: web\n    listen: 0.0.0.0:8080\n    hash: { table: 211 }\n    backends: [a:1, b:1, c:1]\n',
    error: 'fulcrum.yaml:4:20: services[0].hash.table: 211 slots is too small for 3 backends (use a prime of at least 100 × backends, e.g. 307)' },
  { name: 'inherited hash table below 100 slots a backend',
    text: 'defaults: { hash: { table: 101 } }\nservices:\n  - name: web\n    listen: 0.0.0.0:8080\n    backends: [a:1, b:1]\n',
    error: 'fulcrum.yaml:1:28: defaults.hash.table: 101 slots is too small for 2 backends (use a prime of at least 100 × backends, e.g. 211)' },
  { name: 'hash key',
    text: 'services:\n  - name: web\n    listen: 0.0.0.0:8080\n    hash: { key: client-port }\n',
    error: 'fulcrum.yaml:4:18: services[0].hash.key: "client-port" is invalid (use client-ip, client-ip-port, sni)' },
  { name: 'hashBalanceFactor at 100',
    text: 'services:\n  - name: web\n    listen: 0.0.0.0:8080\n    hashBalanceFactor: 100\n',
    error: 'fulcrum.yaml:4:24: services[0].hashBalanceFactor: 100 is invalid (use 0 for no bound, or a percent 101-10000 such as 125)' },
  { name: 'null value',
    text: 'services:\n  - name: web\n    listen: 0.0.0.0:8080\n    algo:\n',
    error: 'fulcrum.yaml:4:5: services[0].algo: expected a strategy name, got null' },
];

for (const { name, text, error } of BROKEN) {
  test(`broken file: ${name}`, () => {
    assert.deepEqual(errorsOf(text), [error]);
  });
}

test('every error of a file comes at once, in file order, with the file name as given', () => {
  const text = [
    'admin: { listen: 127.0.0.1:9090 }', //   1
    'workers: 0', //                           2
    'drainTimeout: 30x', //                    3
    'log: { level: loud }', //                 4
    'defaults:', //                            5
    '  connect_timeout: 3s', //                6
    '  health: { interval: 2s, tiemout: 1s }', // 7
    'services:', //                            8
    '  - name: web', //                        9
    '    listen: 0.0.0.0:8080', //            10
    '    helth: {}', //                       11
    '    backends:', //                       12
    '      - 127.0.0.1:9001', //              13
    '      - { address: 10.0.0.5, weight: 5 }', // 14
    '      - { address: 10.0.0.6:80, weight: 0 }', // 15
    '      - 127.0.0.1:9001', //              16
    '  - name: web', //                       17
    '    listen: 0.0.0.0:8080', //            18
    '  - listen: 8081', //                    19
    '',
  ].join('\n');
  assert.deepEqual(errorsOf(text, 'conf/fulcrum.yaml'), [
    'conf/fulcrum.yaml:2:10: workers: 0 is invalid (use an integer 1-256 or "auto")',
    'conf/fulcrum.yaml:3:15: drainTimeout: "30x" is not a duration (use e.g. 500ms, 3s, 10m; a bare number is seconds; 0 turns it off)',
    'conf/fulcrum.yaml:4:15: log.level: "loud" is invalid (use fatal, error, warn, info, debug, trace, silent)',
    'conf/fulcrum.yaml:6:3: defaults.connect_timeout: unknown key (did you mean "connectTimeout"?)',
    'conf/fulcrum.yaml:7:27: defaults.health.tiemout: unknown key (did you mean "timeout"?)',
    'conf/fulcrum.yaml:11:5: services[0].helth: unknown key (did you mean "health"?)',
    'conf/fulcrum.yaml:14:20: services[0].backends[1].address: "10.0.0.5" has no port (use host:port)',
    'conf/fulcrum.yaml:15:41: services[0].backends[2].weight: weight 0 is invalid (use an integer 1-1000)',
    'conf/fulcrum.yaml:16:9: services[0].backends[3]: 127.0.0.1:9001 is listed twice (first at backends[0])',
    'conf/fulcrum.yaml:17:11: services[1].name: duplicate service name "web" (first at services[0])',
    'conf/fulcrum.yaml:18:13: services[1].listen: 0.0.0.0:8080 is already the listen address of services[0]',
    'conf/fulcrum.yaml:19:5: services[2].name: missing (required)',
  ]);
});

test('JSON files report positions the same way', () => {
  const text = '{\n  "services": [\n    { "name": "web", "listen": 8080, "backends": ["10.0.0.1", {"address": "10.0.0.2:80", "weight": -1}] }\n  ],\n  "workerz": 2\n}\n';
  assert.deepEqual(errorsOf(text, 'fulcrum.json'), [
    'fulcrum.json:3:51: services[0].backends[0]: "10.0.0.1" has no port (use host:port)',
    'fulcrum.json:3:100: services[0].backends[1].weight: weight -1 is invalid (use an integer 1-1000)',
    'fulcrum.json:5:3: workerz: unknown key (did you mean "workers"?)',
  ]);
});

test('several YAML syntax errors come together, and schema checks wait until the YAML is sound', () => {
  assert.deepEqual(errorsOf('services: [ { name: Bad }\nworkers: { 1\n'), [
    'fulcrum.yaml:2:1: invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]',
    'fulcrum.yaml:3:1: invalid YAML: Flow map in block collection must be sufficiently indented and end with a }',
  ]);
});

test('ports 0 on several services are not a clash (the kernel picks each one)', () => {
  assert.deepEqual(errorsOf('services:\n  - { name: a, listen: 127.0.0.1:0 }\n  - { name: b, listen: 127.0.0.1:0 }\n'), []);
});

test('an empty FULCRUM_ADMIN_TOKEN is an error when the file sets no token', () => {
  const text = 'services: [ { name: web, listen: 8080 } ]\n';
  assert.deepEqual(errorsOf(text, 'fulcrum.yaml', { FULCRUM_ADMIN_TOKEN: ' ' }), [
    'fulcrum.yaml: FULCRUM_ADMIN_TOKEN: is empty (give a token, or unset it for an open admin API)',
  ]);
  assert.deepEqual(errorsOf(`admin: { token: t }\n${text}`, 'fulcrum.yaml', { FULCRUM_ADMIN_TOKEN: ' ' }), []);
});

test('an unreadable file is one line with the errno code', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fulcrum-config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const missing = join(dir, 'missing.yaml');
  assert.throws(() => loadConfigFile(missing, {}), (err: unknown) => {
    assert.ok(err instanceof ConfigFileError);
    assert.deepEqual(err.errors, [`${missing}: cannot read the file (ENOENT)`]);
    assert.equal((err.cause as NodeJS.ErrnoException).code, 'ENOENT');
    return true;
  });
  assert.throws(() => loadConfigFile(dir, {}), (err: unknown) => {
    assert.ok(err instanceof ConfigFileError);
    assert.deepEqual(err.errors, [`${dir}: cannot read the file (EISDIR)`]);
    return true;
  });
});
