import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { referenceMarkdown, ROOT, SCHEMA_FILE, schemaText, withReference } from '../../../tools/gen-config-docs.ts';

const STALE = 'run `npm run gen:config` and commit the result';

test('fulcrum.schema.json is what the schema generates', () => {
  assert.equal(readFileSync(`${ROOT}${SCHEMA_FILE}`, 'utf8'), schemaText(), STALE);
});

test('the README config reference is what the schema generates', () => {
  const readme = readFileSync(`${ROOT}README.md`, 'utf8');
  assert.equal(withReference(readme), readme, STALE);
});

test('the reference has a row, with a meaning, for every key of the file', () => {
  const reference = referenceMarkdown();
  for (const key of ['admin.listen', 'admin.token', 'workers', 'drainTimeout', 'log.level', 'defaults.algo', 'defaults.health.http', 'defaults.passive.maxEjectTime', 'services[].name', 'services[].listen', 'services[].backends[].weight']) {
    assert.match(reference, new RegExp(`^\\| \`${key.replace(/[[\].]/g, '\\$&')}\` \\|[^|]*\\|[^|]*\\| \\S`, 'm'), key);
  }
});

test('every field of the JSON Schema has a description', () => {
  const missing: string[] = [];
  const walk = (node: Record<string, unknown>, path: string) => {
    const props = node.properties as Record<string, Record<string, unknown>> | undefined;
    for (const [key, child] of Object.entries(props ?? {})) {
      if (typeof child.description !== 'string') missing.push(`${path}${key}`);
      walk(child, `${path}${key}.`);
      const items = child.items as Record<string, unknown> | undefined;
      if (items) walk(items, `${path}${key}[].`);
      for (const branch of (items?.anyOf ?? []) as Record<string, unknown>[]) walk(branch, `${path}${key}[].`);
    }
  };
  walk(JSON.parse(schemaText()) as Record<string, unknown>, '');
  assert.deepEqual(missing, []);
});
