/**
 * A small static file handler for the dashboard's own files. Only names that
 * are plain file names (letters, digits, `.`, `_`, `-`; no leading dot, no
 * `..`, no separator, no percent-encoding) under one root are served, and
 * only regular files there: there is no way out of the root to refuse,
 * because no name that could lead out is looked up at all.
 *
 * Answers carry a content type by extension (unknown ones are refused, so
 * nothing is sniffed), `X-Content-Type-Options: nosniff`, an ETag (size and
 * mtime) and `Cache-Control: no-cache`: the browser keeps its copy and
 * revalidates it, getting a 304 while the file is unchanged, so a Fulcrum
 * upgrade shows its new page at once.
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { HttpError, notFound } from './http-error.ts';

export const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
};

const SAFE_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

export interface StaticReply {
  readonly status: 200 | 304;
  readonly headers: Record<string, string>;
  readonly body: Buffer | undefined;
}

/** Whether `name` may be looked up under a root: a plain file name, nothing that could leave it. */
export function isSafeName(name: string): boolean {
  return SAFE_NAME.test(name) && !name.includes('..');
}

/**
 * Serves `name` from `root` (a directory). Throws a 404 HttpError for a name
 * that is not safe, not there, or not a regular file, and a 415 for an
 * extension without a known type.
 */
export async function serveStatic(root: string, name: string, ifNoneMatch: string | undefined, extraHeaders: Readonly<Record<string, string>> = {}): Promise<StaticReply> {
  if (!isSafeName(name)) throw notFound(`no such file: ${JSON.stringify(name.slice(0, 64))}`);
  const type = CONTENT_TYPES[extname(name).toLowerCase()];
  if (type === undefined) throw new HttpError(404, 'ERR_NOT_FOUND', `no such file: ${JSON.stringify(name.slice(0, 64))} (not a served type)`);
  const path = join(root, name);
  let info;
  try {
    info = await stat(path);
  } catch {
    throw notFound(`no such file: ${name}`);
  }
  if (!info.isFile()) throw notFound(`no such file: ${name}`);
  const etag = `"${createHash('sha1').update(`${path}:${info.size}:${info.mtimeMs}`).digest('base64url').slice(0, 20)}"`;
  const headers: Record<string, string> = {
    ...extraHeaders,
    'content-type': type,
    'cache-control': 'no-cache',
    etag,
    'x-content-type-options': 'nosniff',
  };
  if (ifNoneMatch !== undefined && ifNoneMatch.split(',').some((t) => t.trim().replace(/^W\//, '') === etag)) {
    return { status: 304, headers, body: undefined };
  }
  const body = await readFile(path);
  return { status: 200, headers: { ...headers, 'content-length': String(body.length) }, body };
}
