import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseHostPort } from '../../src/config/parse.ts';
test('smoke', () => { assert.deepEqual(parseHostPort('x', '[::1]:80'), { host: '::1', port: 80 }); });
