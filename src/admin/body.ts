/**
 * A bounded JSON body reader. The limit is checked against Content-Length
 * before reading and against the bytes actually read while reading, so a
 * client that lies about (or omits) the length cannot make us buffer more.
 */
import type { IncomingMessage } from 'node:http';
import { HttpError } from './http-error.ts';

/** @default 64 KiB */
export const MAX_BODY_BYTES = 64 * 1024;

const tooLarge = (limit: number) =>
  new HttpError(413, 'ERR_BODY_TOO_LARGE', `body is larger than ${limit} bytes`);

export function readJsonBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<unknown> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) return Promise.reject(tooLarge(limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      try {
        resolve(parse(Buffer.concat(chunks), req.headers['content-type']));
      } catch (err) {
        reject(err);
      }
    };
    const onAborted = () => {
      cleanup();
      reject(new HttpError(400, 'ERR_ABORTED', 'request aborted before its body was complete'));
    };
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onAborted);
      req.off('aborted', onAborted);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onAborted);
    req.on('aborted', onAborted);
  });
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** `application/json`, parameters (charset) allowed. */
const JSON_TYPE = /^application\/json\s*(;|$)/i;

function parse(bytes: Buffer, contentType: string | undefined): unknown {
  if (bytes.length === 0) throw new HttpError(400, 'ERR_BODY_MISSING', 'body is missing (send a JSON object)');
  // Checked after the size limit and before parsing: text/plain and form bodies are what a web
  // page can POST cross-site without a preflight, so only a JSON type is taken (see guard.ts).
  if (contentType === undefined || !JSON_TYPE.test(contentType)) {
    throw new HttpError(415, 'ERR_UNSUPPORTED_MEDIA_TYPE', `body must be sent as Content-Type: application/json, not ${contentType === undefined ? 'without one' : JSON.stringify(contentType.slice(0, 64))} (curl: --json '{...}')`);
  }
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new HttpError(400, 'ERR_INVALID_JSON', 'body is not valid UTF-8');
  }
  const depth = nesting(text);
  if (depth > MAX_DEPTH) throw new HttpError(400, 'ERR_BODY_TOO_DEEP', `body nests ${depth > 999 ? 'over 999' : depth} levels deep (at most ${MAX_DEPTH})`);
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new HttpError(400, 'ERR_INVALID_JSON', `body is not valid JSON: ${(err as Error).message}`);
  }
}

/**
 * Admin bodies are flat objects. Anything much deeper is refused before it is
 * parsed: JSON.parse copes with 30,000 levels, but whatever walks the value
 * afterwards by recursion (JSON.stringify in an error title, a logger) runs
 * out of stack, which would be a 500 for what is the client's mistake.
 */
const MAX_DEPTH = 32;

/** The deepest nesting of `[`/`{` outside strings, stopping early once past 1000. */
function nesting(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length && max <= 1000; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped char
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) max = Math.max(max, ++depth);
    else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}
