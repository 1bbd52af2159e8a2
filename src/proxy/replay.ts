/**
 * The bytes a connection's first-bytes phase read ahead of the pick (after
 * a PROXY header, or a ClientHello), written to a backend attempt before the
 * client is read again, on the raw plane. A fresh socket nearly always takes
 * them whole (one write(2)); otherwise the rest is queued, the upstream is
 * not read until it is written, and the owner is told (`replayDone`): the
 * relay writes directly only while nothing is queued, so it may start then.
 */
import { writeSync } from 'node:fs';
import { kLastWriteWasAsync, streamBaseState, WriteWrap, type Req, type TcpHandle } from './native.ts';

export interface ReplayOwner {
  /** The queued rest was written (`status` 0) or failed (a libuv error). */
  replayDone(status: number, upstream: TcpHandle): void;
}

export const REPLAY_SENT = 'sent';
export const REPLAY_QUEUED = 'queued';

/** `sent`, `queued` (the owner hears later), or the code of the error that ended the attempt. */
export function writeReplay(upstream: TcpHandle & { relay: ReplayOwner }, bytes: Buffer): string {
  let written: number;
  try {
    written = writeSync(upstream.fd, bytes);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'EIO';
    if (code !== 'EAGAIN') return code;
    written = 0;
  }
  if (written === bytes.length) return REPLAY_SENT;
  const rest = Buffer.from(bytes.subarray(written));
  const req = new WriteWrap();
  if (upstream.writeBuffer(req, rest) !== 0) return 'EPIPE';
  if (streamBaseState[kLastWriteWasAsync] === 0) return REPLAY_SENT;
  upstream.readStop();
  req.buffer = rest;
  req.oncomplete = replayWritten;
  return REPLAY_QUEUED;
}

function replayWritten(this: Req, status: number, upstream: TcpHandle & { relay: ReplayOwner }): void {
  this.buffer = undefined;
  upstream.relay.replayDone(status, upstream);
}
