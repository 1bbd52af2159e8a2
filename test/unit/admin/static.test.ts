/**
 * The dashboard's static handler: plain file names under one root, nothing
 * else. Every way out of the root is refused before anything is looked up,
 * and the answers carry a type, an ETag and no-cache.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HttpError } from '../../../src/admin/http-error.ts';
import { isSafeName, serveStatic } from '../../../src/admin/static.ts';

function tree(t: { after(fn: () => void): void }) {
  const base = mkdtempSync(join(tmpdir(), 'fulcrum-static-'));
  const root = join(base, 'root');
  mkdirSync(root);
  mkdirSync(join(root, 'sub.js'));
  writeFileSync(join(root, 'app.js'), 'export const x = 1;\n');
  writeFileSync(join(root, 'index.html'), '<!doctype html>');
  writeFileSync(join(root, 'notes.txt'), 'no type for this');
  writeFileSync(join(base, 'secret.js'), 'outside the root');
  t.after(() => rmSync(base, { recursive: true, force: true }));
  return root;
}

test('names that could leave the root are not safe', () => {
  const refused = ['..', '../secret.js', '..%2fsecret.js', '%2e%2e', '.hidden.js', 'a/b.js', 'a\\b.js', '/etc/passwd', 'x..js', '', 'a\0.js', 'a b.js', 'é.js', 'x'.repeat(200)];
  for (const name of refused) assert.equal(isSafeName(name), false, name);
  for (const name of ['app.js', 'index.html', 'uPlot.min.css', 'a_b-c.1.js']) assert.equal(isSafeName(name), true, name);
});

test('traversal, encoded or not, is a 404 and reads nothing outside the root', async (t) => {
  const root = tree(t);
  for (const name of ['../secret.js', '..%2fsecret.js', '..%2Fsecret.js', '%2e%2e%2fsecret.js', '..\\secret.js', '.', '..']) {
    await assert.rejects(serveStatic(root, name, undefined), (err: unknown) => err instanceof HttpError && err.status === 404, name);
  }
});

test('a directory, a missing file, an unknown type and a symlink out are 404s', async (t) => {
  const root = tree(t);
  symlinkSync(join(root, '..', 'secret.js'), join(root, 'link.js'));
  for (const name of ['sub.js', 'missing.js', 'notes.txt']) {
    await assert.rejects(serveStatic(root, name, undefined), (err: unknown) => err instanceof HttpError && err.status === 404, name);
  }
  // A link placed in the root by whoever installed it is followed like a file of the root;
  // what cannot happen is a request naming a path out of it (above).
  const linked = await serveStatic(root, 'link.js', undefined);
  assert.equal(linked.status, 200);
});

test('a file: its type, nosniff, ETag and no-cache; the same ETag back is a 304 without a body', async (t) => {
  const root = tree(t);
  const first = await serveStatic(root, 'app.js', undefined, { 'content-security-policy': "default-src 'self'" });
  assert.equal(first.status, 200);
  assert.equal(first.body?.toString(), 'export const x = 1;\n');
  assert.equal(first.headers['content-type'], 'text/javascript; charset=utf-8');
  assert.equal(first.headers['x-content-type-options'], 'nosniff');
  assert.equal(first.headers['cache-control'], 'no-cache');
  assert.equal(first.headers['content-security-policy'], "default-src 'self'");
  assert.equal(first.headers['content-length'], '20');
  const etag = first.headers.etag!;
  assert.match(etag, /^"[\w-]+"$/);
  const again = await serveStatic(root, 'app.js', `W/${etag}, "other"`);
  assert.equal(again.status, 304);
  assert.equal(again.body, undefined);
  assert.equal((await serveStatic(root, 'index.html', '"stale"')).headers['content-type'], 'text/html; charset=utf-8');
});
