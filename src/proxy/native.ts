/**
 * Node's raw TCP stream handles, the layer under `net.Socket`: the data plane
 * uses them directly, because a `net.Socket` (an EventEmitter plus a Duplex
 * stream with its state objects, about 60 µs of CPU and several KiB per
 * connection) costs more than everything else a proxied connection needs.
 *
 * These are internals: `process.binding('tcp_wrap')` and
 * `process.binding('stream_wrap')`, on the allow-list that `process.binding`
 * serves without a warning (DEP0111 only under `--pending-deprecation`), and
 * refused under the permission model. They are loaded and checked on first
 * use (`nativeProblem()`, asked by plane.ts and ProxyListener), never on
 * import, so the stream plane can run where they are refused. What `lib/net.js` and
 * `lib/internal/stream_base_commons.js` rely on, and so do we:
 *
 * - `handle.onread = fn` before `readStart()`; `fn` runs with `this` = the
 *   handle. The count read, or a negative libuv error (UV_EOF at the end), is
 *   in `streamBaseState[kReadBytesOrError]`. libuv stops reading by itself at
 *   EOF. By default each read also arrives as a fresh ArrayBuffer; after
 *   `handle.useUserBuffer(buf)` (Node's `onread` socket option) every read
 *   lands in `buf` instead, and `fn` gets no argument.
 * - `handle.writeBuffer(req, bytes)` returns a libuv error or 0. Node first
 *   tries a synchronous write; only if the kernel did not take everything does
 *   it queue the rest, set `streamBaseState[kLastWriteWasAsync]`, bind `req` to
 *   the queued write and later call `req.oncomplete(status, handle)`. The
 *   queued bytes are not copied: the caller keeps `bytes` alive until then.
 * - `handle.shutdown(req)` queues a FIN after pending writes (libuv defers the
 *   syscall to the next loop turn); `req.oncomplete(status, handle)` when done.
 * - `handle.reset()` sends RST and closes; libuv refuses it (EINVAL, and Node
 *   then ignores a later `close()`: a leaked fd) while a shutdown is pending.
 * - `handle.close()` closes now; pending requests complete with ECANCELED.
 * - `new TCP(SOCKET)` + `connect(req, ip, port)` / `connect6`, where `ip` is
 *   a numeric address; `req.oncomplete(status, handle, req, readable, writable)`.
 * - A `net.Server` calls `server._handle.onconnection(err, clientHandle)` for
 *   each accepted connection, in the primary and in cluster workers alike.
 * - `handle.fd` is the socket's descriptor (Unix), usable with `fs.writeSync`.
 *
 * An exception thrown from any of these callbacks is an uncaught exception:
 * every callback the data plane installs catches its own.
 *
 * On a Node upgrade, check these names and signatures against lib/net.js; the
 * proxy tests exercise every one of them, so a change fails there first.
 */
import { constants as os } from 'node:os';
import { getSystemErrorName } from 'node:util';

export interface PeerName {
  address?: string;
  family?: string;
  port?: number;
}

/** A request object passed to a handle method; Node binds its C++ half to it. */
export interface Req {
  /** Called by Node only (hence `never`: any handle type the callback expects will do). */
  oncomplete?: (this: never, status: number, handle: never) => void;
  /** Keeps the bytes of a queued write alive. */
  buffer?: Uint8Array;
}

export interface TcpHandle {
  /** Called by Node only, with `this` the handle. */
  onread: (this: never) => void;
  readStart(): number;
  readStop(): number;
  writeBuffer(req: Req, bytes: Uint8Array): number;
  shutdown(req: Req): number;
  connect(req: Req, ip: string, port: number): number;
  connect6(req: Req, ip: string, port: number): number;
  setNoDelay(on: boolean): number;
  /** SO_KEEPALIVE, and with it TCP_KEEPIDLE in whole seconds (libuv's uv_tcp_keepalive). */
  setKeepAlive(on: boolean, delaySeconds: number): number;
  useUserBuffer(buffer: Uint8Array): void;
  /** The socket's file descriptor (-1 where there is none, on Windows). */
  readonly fd: number;
  getpeername(out: PeerName): number;
  getsockname(out: PeerName): number;
  reset(): number;
  close(): void;
  readonly bytesRead: number;
  readonly bytesWritten: number;
}

interface TcpWrapBinding {
  TCP: new (type: number) => TcpHandle;
  TCPConnectWrap: new () => Req;
  constants: { SOCKET: number; SERVER: number };
}

interface StreamWrapBinding {
  WriteWrap: new () => Req;
  ShutdownWrap: new () => Req;
  streamBaseState: Int32Array;
  kReadBytesOrError: number;
  kLastWriteWasAsync: number;
}

let tcp: TcpWrapBinding;
let stream: StreamWrapBinding;

// Live bindings, set by `nativeProblem()` before the first raw handle is made (ProxyListener's
// constructor asks): importing this module touches no internal, so it loads under `--permission`.
export let TCPConnectWrap: new () => Req;
export let TCPConstants: TcpWrapBinding['constants'];
export let WriteWrap: new () => Req;
export let ShutdownWrap: new () => Req;
export let streamBaseState: Int32Array;
export let kReadBytesOrError: number;
export let kLastWriteWasAsync: number;

export function newSocketHandle(): TcpHandle {
  return new tcp.TCP(TCPConstants.SOCKET);
}

/** libuv's UV_EOF, the same on every platform. */
export const UV_EOF = -4095;
/** libuv errors are negated errno values on Unix. */
export const UV_ENOTCONN = -os.errno.ENOTCONN;
/** Node 20 gives libuv's codes their POSIX names. */
export const errnoName = (status: number): string => (status < 0 ? getSystemErrorName(status) : `status ${status}`);

/** The check's verdict: undefined once it passed, a reason once it failed; null before it ran. */
let problem: string | undefined | null = null;

/**
 * Why the raw-handle data plane cannot run on this Node, or undefined when
 * it can: every internal it uses is loaded and checked, once. Never throws
 * and never prints: `process.binding` throws ERR_ACCESS_DENIED under the
 * permission model, and warns (DEP0111) under `--pending-deprecation`, a
 * warning silenced for the call (an operator cannot act on it).
 */
export function nativeProblem(): string | undefined {
  if (problem === null) problem = load();
  return problem;
}

function load(): string | undefined {
  const binding = (process as unknown as { binding?: (name: string) => unknown }).binding;
  if (typeof binding !== 'function') return `this Node (${process.version}) has no process.binding`;
  const quiet = process.noDeprecation;
  try {
    process.noDeprecation = true;
    tcp = binding.call(process, 'tcp_wrap') as TcpWrapBinding;
    stream = binding.call(process, 'stream_wrap') as StreamWrapBinding;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ERR_ACCESS_DENIED') return 'this Node refuses process.binding (permission model)';
    return `process.binding failed on this Node (${process.version}): ${code ?? (error as Error).message}`;
  } finally {
    process.noDeprecation = quiet;
  }
  for (const [what, ok] of [
    ['tcp_wrap.TCP', typeof tcp?.TCP === 'function'],
    ['tcp_wrap.TCPConnectWrap', typeof tcp?.TCPConnectWrap === 'function'],
    ['stream_wrap.WriteWrap', typeof stream?.WriteWrap === 'function'],
    ['stream_wrap.ShutdownWrap', typeof stream?.ShutdownWrap === 'function'],
    ['stream_wrap.streamBaseState', stream?.streamBaseState instanceof Int32Array],
    ['TCP.prototype.writeBuffer', typeof (tcp?.TCP?.prototype as Partial<TcpHandle> | undefined)?.writeBuffer === 'function'],
    ['TCP.prototype.reset', typeof (tcp?.TCP?.prototype as Partial<TcpHandle> | undefined)?.reset === 'function'],
    ['UV_EOF', getSystemErrorName(UV_EOF) === 'EOF'],
    // The relay writes to sockets' file descriptors (relay.ts); Windows handles have none.
    ['socket file descriptors (Unix)', process.platform !== 'win32'],
  ] as const) {
    if (!ok) return `this Node (${process.version}) lacks ${what}, which the raw-handle data plane needs`;
  }
  ({ TCPConnectWrap, constants: TCPConstants } = tcp);
  ({ WriteWrap, ShutdownWrap, streamBaseState, kReadBytesOrError, kLastWriteWasAsync } = stream);
  return undefined;
}
