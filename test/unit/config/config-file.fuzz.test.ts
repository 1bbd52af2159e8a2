/**
 * Property-based tests of config files (issue 16): valid files mutated in
 * their structure (a value replaced by any JSON value, a key removed, an
 * unknown key added) and in their bytes. Whatever the file, parseConfigText
 * (what `fulcrum validate` and a reload run) either accepts it or throws a
 * ConfigFileError whose every line is `file:line:col: ` followed by the path
 * of the problem or a whole-file reason; nothing else is ever thrown.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { ConfigFileError, parseConfigText } from '../../../src/config/file.ts';
import { runValidate } from '../../../src/config/validate-command.ts';
import { mutate, mutations, params } from '../../helpers/fuzz.ts';

const VALID = {
  admin: { listen: '127.0.0.1:9091', allowedHosts: ['lb.internal'] },
  workers: 2,
  drainTimeout: '45s',
  log: { level: 'debug', format: 'json' },
  defaults: {
    algo: 'ptc',
    connectTimeout: '2s',
    retries: 1,
    idleTimeout: '5m',
    health: { interval: '3s', timeout: '500ms', rise: 4, fall: 5, http: '/healthz', expectStatus: '200-299' },
    passive: { maxFails: 7, ejectTime: '10s', maxEjectedPercent: 50 },
    limits: { maxConnectionsPerIp: 10, connectionRatePerIp: '50/s' },
    queue: { size: 10, timeout: '1s' },
    allow: ['10.0.0.0/8', '::1'],
    deny: ['10.1.0.0/16'],
    unavailableReply: 'HTTP/1.0 503 Service Unavailable\r\n\r\n',
  },
  services: [
    {
      name: 'web',
      listen: '0.0.0.0:8080',
      algo: 'wrr',
      proxyProtocol: 'v2',
      backends: ['127.0.0.1:9001', '127.0.0.1:9003@3', { address: '[::1]:9002', weight: 5, backup: true, maxConnections: 4 }],
    },
    {
      name: 'cache',
      listen: 6380,
      algo: 'lc',
      health: { type: 'redis', interval: '1s' },
      slowStart: '10s',
      backends: ['localhost:6379'],
    },
  ],
};

type Json = unknown;
type Edit = { op: 'set'; at: number; value: Json } | { op: 'delete'; at: number } | { op: 'add'; at: number; key: string; value: Json };

const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ op: fc.constant('set' as const), at: fc.nat(), value: fc.jsonValue({ maxDepth: 2 }) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('add' as const), at: fc.nat(), key: fc.string({ maxLength: 12 }), value: fc.jsonValue({ maxDepth: 2 }) }),
);

/** Every container and key in `root`, depth first: the places an edit can land. */
function places(root: Json): { parent: Record<string, Json> | Json[]; key: string | number }[] {
  const out: { parent: Record<string, Json> | Json[]; key: string | number }[] = [];
  const walk = (node: Json) => {
    if (Array.isArray(node)) node.forEach((v, i) => (out.push({ parent: node, key: i }), walk(v)));
    else if (node !== null && typeof node === 'object') {
      for (const [k, v] of Object.entries(node)) out.push({ parent: node as Record<string, Json>, key: k }), walk(v);
    }
  };
  walk(root);
  return out;
}

function applyEdits(edits: readonly Edit[]): Json {
  const root = structuredClone(VALID) as Json;
  for (const e of edits) {
    const all = places(root);
    if (all.length === 0) break;
    const { parent, key } = all[e.at % all.length]!;
    if (e.op === 'set') (parent as any)[key] = e.value;
    else if (e.op === 'delete') Array.isArray(parent) ? parent.splice(key as number, 1) : delete (parent as any)[key];
    else {
      const target = (parent as any)[key];
      if (target !== null && typeof target === 'object' && !Array.isArray(target)) target[e.key] = e.value;
    }
  }
  return root;
}

const FILE = 'fuzz.yaml';
const LINE = /^fuzz\.yaml(:(\d+):(\d+))?: (.+)$/s;

/** Accepts, or refuses with lines that each say where and what. */
function checkOutcome(text: string): 'accepted' | 'refused' {
  try {
    const config = parseConfigText(text, FILE, {});
    assert.ok(config.services.length >= 1);
    return 'accepted';
  } catch (err) {
    if (!(err instanceof ConfigFileError)) throw new Error(`threw ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`, { cause: err });
    assert.ok(err.errors.length >= 1, 'a refusal names at least one problem');
    const lines = text.split('\n').length;
    for (const line of err.errors) {
      const m = LINE.exec(line);
      assert.ok(m, `error line without its place: ${JSON.stringify(line)}`);
      if (m[2] !== undefined) assert.ok(Number(m[2]) >= 1 && Number(m[2]) <= lines + 1, `line ${m[2]} is outside the file: ${line}`);
      assert.ok(m[4]!.trim().length > 0, `an empty reason: ${line}`);
    }
    return 'refused';
  }
}

test('structural mutations of a valid file: accepted, or refused with file:line:col and the path', () => {
  assert.equal(checkOutcome(stringify(VALID)), 'accepted');
  const seen = { accepted: 0, refused: 0 };
  fc.assert(
    fc.property(fc.array(edit, { minLength: 1, maxLength: 4 }), fc.boolean(), (edits, asJson) => {
      const doc = applyEdits(edits);
      const text = asJson ? JSON.stringify(doc, null, 1) : stringify(doc);
      seen[checkOutcome(text)]++;
    }),
    params(1000),
  );
  // Both outcomes must occur, or the generator is not exercising the validator.
  assert.ok(seen.accepted > 0 && seen.refused > 0, JSON.stringify(seen));
});

test('byte mutations of a valid file: accepted, or refused with file:line:col', () => {
  const yaml = Buffer.from(stringify(VALID));
  const json = Buffer.from(JSON.stringify(VALID, null, 2));
  fc.assert(
    fc.property(mutations, fc.boolean(), (ms, asJson) => {
      checkOutcome(mutate(asJson ? json : yaml, ms).toString('utf8'));
    }),
    params(1000),
  );
});

test('fulcrum validate on mutated files: exit 0 or 2, an error line per problem, never a throw', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fulcrum-fuzz-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'f.yaml');
  await fc.assert(
    fc.asyncProperty(fc.array(edit, { minLength: 1, maxLength: 3 }), async (edits) => {
      writeFileSync(path, stringify(applyEdits(edits)));
      let out = '';
      let err = '';
      const code = await runValidate(['-c', path], (s) => (out += s), (s) => (err += s));
      if (code === 0) assert.match(out, /\S/);
      else {
        assert.equal(code, 2);
        const lines = err.trimEnd().split('\n');
        assert.match(lines.at(-1)!, /^fulcrum validate: \d+ errors? in /);
        for (const l of lines.slice(0, -1)) assert.ok(l.startsWith(`${path}:`), l);
      }
    }),
    params(1000),
  );
});

test('a map or a list as a key is refused at its place, without a process warning (found by the byte mutations)', async () => {
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.message);
  process.on('warning', onWarning);
  try {
    assert.throws(() => parseConfigText('services: []\n? { a: 1 }\n: 2\n', FILE, {}), (err: ConfigFileError) => {
      assert.deepEqual(err.errors, ['fuzz.yaml:2:3: a key must be plain text, not a map or a list']);
      return true;
    });
    await new Promise((r) => setImmediate(r)); // process warnings are emitted on the next tick
    assert.deepEqual(warnings, []);
  } finally {
    process.off('warning', onWarning);
  }
});
