import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allowedKeys } from '../../../src/config/schema.ts';
import { closestKey, editDistance } from '../../../src/config/suggest.ts';

test('closestKey suggests only what looks like a typo', () => {
  const service = allowedKeys(['services', 0]);
  const cases: [string, string | undefined][] = [
    ['helth', 'health'],
    ['backend', 'backends'],
    ['connect_timeout', 'connectTimeout'],
    ['IdleTimeout', 'idleTimeout'],
    ['lsiten', 'listen'],
    ['colour', undefined],
    ['port', undefined],
    ['weight', undefined],
  ];
  for (const [typed, expected] of cases) assert.equal(closestKey(typed, service), expected, typed);
  assert.equal(editDistance('tiemout', 'timeout'), 1);
  assert.equal(editDistance('', 'abc'), 3);
});

test('allowedKeys follows lists, optional maps and the map form of a backend', () => {
  assert.deepEqual(allowedKeys(['services', 3, 'backends', 0]), ['address', 'weight', 'backup', 'slowStart', 'maxConnections', 'proxyProtocol']);
  assert.deepEqual(allowedKeys(['defaults', 'passive']), ['maxFails', 'ejectTime', 'maxEjectTime', 'maxEjectedPercent']);
  assert.deepEqual(allowedKeys(['workers']), []);
});
