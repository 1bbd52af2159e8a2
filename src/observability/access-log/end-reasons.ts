/**
 * How a connection ended, as the access log names it. Sessions keep the
 * reason as a small integer in a field (no allocation, nothing formatted)
 * and the name is looked up only when a line is written.
 *
 * Who sets what, on both data planes alike:
 * - the relay: the first side to send its FIN (`client-closed`,
 *   `backend-closed`), a side that reset or broke (`client-reset`,
 *   `backend-reset`, which wins over an earlier FIN);
 * - the session: `idle-timeout`, `max-lifetime`, `connect-failed` (every
 *   attempt failed), `no-backend` (nothing to try), `queue-timeout`,
 *   `rejected` (controls or a full queue, with the verdict as detail),
 *   `internal-error` (a bug of ours closed it);
 * - the listener: `shutdown` (cut at the end of a drain, or destroyed) and
 *   `forced` (its backend deregistered with force);
 * - the first-bytes phase: `proxy-header` (a missing or bad PROXY header),
 *   through the session's `endRefused`.
 */
export const END_REASONS = [
  'unknown',
  'client-closed',
  'backend-closed',
  'client-reset',
  'backend-reset',
  'idle-timeout',
  'max-lifetime',
  'connect-failed',
  'no-backend',
  'queue-timeout',
  'rejected',
  'proxy-header',
  'shutdown',
  'forced',
  'internal-error',
] as const;

export type EndReasonName = (typeof END_REASONS)[number];

/** The integer a session stores for each reason (its index in END_REASONS). */
export const End = {
  Unknown: 0,
  ClientClosed: 1,
  BackendClosed: 2,
  ClientReset: 3,
  BackendReset: 4,
  IdleTimeout: 5,
  MaxLifetime: 6,
  ConnectFailed: 7,
  NoBackend: 8,
  QueueTimeout: 9,
  Rejected: 10,
  ProxyHeader: 11,
  Shutdown: 12,
  Forced: 13,
  InternalError: 14,
} as const;

export type EndReason = (typeof End)[keyof typeof End];

/** The reasons a refused connection (no backend ever asked) may end with, through `endRefused`. */
export type RefusalReason = typeof End.Rejected | typeof End.ProxyHeader | typeof End.QueueTimeout | typeof End.NoBackend;

export const endReasonName = (reason: number): EndReasonName => END_REASONS[reason] ?? 'unknown';
