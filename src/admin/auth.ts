/**
 * `Authorization: Bearer TOKEN` for the admin API. Both sides are hashed
 * first so timingSafeEqual always compares equal lengths and the time taken
 * says nothing about the token's length or its first differing byte.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();

/** Returns a checker for the Authorization header; with no token configured everything passes. */
export function bearerAuth(token: string | undefined): (header: string | undefined) => boolean {
  if (token === undefined) return () => true;
  const expected = digest(token);
  return (header) => {
    const m = header === undefined ? null : /^Bearer +(\S+) *$/i.exec(header);
    // Hash something even when the header is absent or malformed, so that path takes as long.
    return timingSafeEqual(digest(m?.[1] ?? ''), expected) && m !== null;
  };
}
