/**
 * Checks that speak the protocol (HAProxy `tcp-check send` / `expect`):
 * after connecting, send some bytes and require the reply to start with the
 * expected bytes, or to match a regular expression, within the timeout. The
 * `redis` and `postgres` presets are two of these.
 */
import type { Expectation } from '../config/parse.ts';
import { probeSocket, type Probe } from './probe.ts';

/** A reply longer than this without the expected text fails: the backend is not saying what we wait for. */
const MAX_REPLY = 16 * 1024;

/** `PING`, then a reply starting with `+PONG` (a Redis that needs AUTH answers `-NOAUTH`, and fails). */
export const REDIS_PRESET = { send: Buffer.from('PING\r\n'), expect: { prefix: Buffer.from('+PONG') } } as const;

/**
 * An SSLRequest (length 8, code 80877103); every PostgreSQL server answers
 * one byte, `S` (TLS offered) or `N` (not), before any authentication, so no
 * credentials are needed and nothing is logged as a failed login.
 */
export const POSTGRES_PRESET = { send: Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]), expect: { anyOf: [Buffer.from('S'), Buffer.from('N')] } } as const;

/** What a check waits for: a configured expectation, or one of several prefixes (a preset's). */
export type Expected = Expectation | { readonly anyOf: readonly Buffer[] };

/** A reply, quoted for a reason: printable ASCII as is, the rest escaped, at most 40 bytes. */
export function preview(reply: Buffer): string {
  return JSON.stringify(reply.subarray(0, 40).toString('latin1')).replace(/[\x7f-\xff]/g, (c) => `\\x${c.charCodeAt(0).toString(16)}`);
}

export function sendExpectCheck(send: Buffer | undefined, expect: Expected | undefined): Probe {
  return (target, timeoutMs) =>
    probeSocket(target, timeoutMs, (socket, settle) => {
      if (expect === undefined) {
        // Nothing to wait for: the bytes reaching the kernel is the check (HAProxy's `send` alone).
        if (send === undefined) return settle({ ok: true, reason: 'connected' });
        socket.write(send, () => settle({ ok: true, reason: 'sent' }));
        return;
      }
      let reply: Buffer = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        reply = reply.length === 0 ? chunk : Buffer.concat([reply, chunk]);
        if (!('regex' in expect)) {
          // Decided as soon as the reply matches a prefix whole, or can no longer match any.
          let open = false;
          for (const want of 'prefix' in expect ? [expect.prefix] : expect.anyOf) {
            const n = Math.min(reply.length, want.length);
            if (!reply.subarray(0, n).equals(want.subarray(0, n))) continue;
            if (reply.length >= want.length) return settle({ ok: true, reason: `replied ${preview(want)}` });
            open = true;
          }
          if (!open) settle({ ok: false, reason: `unexpected reply ${preview(reply)}` });
          return;
        }
        if (expect.regex.test(reply.toString('latin1'))) return settle({ ok: true, reason: `replied ${preview(reply)}` });
        if (reply.length > MAX_REPLY) settle({ ok: false, reason: `unexpected reply ${preview(reply)}` });
      });
      // A reply cut short by the backend says more than "closed": keep what it did say.
      socket.once('end', () => settle({ ok: false, reason: reply.length === 0 ? 'closed by backend without a reply' : `unexpected reply ${preview(reply)}` }));
      if (send !== undefined) socket.write(send);
    });
}
