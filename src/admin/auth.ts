/**
 * `Authorization: Bearer TOKEN` for the admin API. The token is everything
 * after the scheme and its spaces, compared as raw bytes: Node hands header
 * values over as latin1, one char per byte, so re-encoding them as latin1
 * gives back exactly the bytes the client sent, and a UTF-8 token (or one
 * with spaces inside) matches when sent as is. Both sides are hashed first so
 * timingSafeEqual always compares equal lengths and the time taken says
 * nothing about the token's length or its first differing byte.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { parseToken } from '../config/parse.ts';

const digest = (bytes: Buffer) => createHash('sha256').update(bytes).digest();

/** Returns a checker for the Authorization header; with no token configured everything passes. */
export function bearerAuth(token: string | undefined): (header: string | undefined) => boolean {
  if (token === undefined) return () => true;
  const expected = digest(Buffer.from(parseToken('admin token', token), 'utf8'));
  return (header) => {
    const m = header === undefined ? null : /^Bearer +(.+)$/is.exec(header);
    // Hash something even when the header is absent or malformed, so that path takes as long.
    return timingSafeEqual(digest(Buffer.from(m?.[1] ?? '', 'latin1')), expected) && m !== null;
  };
}
