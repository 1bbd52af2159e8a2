/**
 * Every error Fulcrum raises on purpose carries a stable `code` (for logs,
 * metrics and API bodies) and a `side` saying where the fault came from, so a
 * refused backend is never counted as a client error or the other way round.
 */
export type ErrorSide = 'client' | 'backend' | 'internal' | 'config';

export class FulcrumError extends Error {
  readonly code: string;
  readonly side: ErrorSide;

  constructor(message: string, code: string, side: ErrorSide, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.side = side;
  }
}

/**
 * errno codes that mean this host ran out of something (descriptors, buffers,
 * memory, local ports): the fault is ours, not the peer's, so a connect or a
 * probe that fails with one says nothing about the backend.
 */
export const LOCAL_ERRNOS: ReadonlySet<string> = new Set(['EMFILE', 'ENFILE', 'ENOBUFS', 'ENOMEM', 'EADDRNOTAVAIL']);

/** A flag, config file entry or admin body field that makes no sense. `field` names it (`--backend`, `weight`). */
export class ConfigError extends FulcrumError {
  readonly field: string;

  constructor(field: string, message: string, options?: { cause?: unknown }) {
    super(`${field}: ${message}`, 'ERR_CONFIG', 'config', options);
    this.field = field;
  }
}

/** A backend could not be reached (refused, timed out, reset during connect). */
export class BackendConnectError extends FulcrumError {
  constructor(message: string, code = 'ERR_BACKEND_CONNECT', options?: { cause?: unknown }) {
    super(message, code, 'backend', options);
  }
}

/** No ready backend could take a connection after every allowed attempt. */
export class NoBackendError extends FulcrumError {
  constructor(attempts: number) {
    super(`no backend could take the connection after ${attempts} attempt(s)`, 'ERR_NO_BACKEND', 'backend');
  }
}

/** The data plane asked for (`--data-plane`, `dataPlane:`) cannot run on this Node; the message says why and what to use. */
export class DataPlaneError extends FulcrumError {
  constructor(message: string) {
    super(message, 'ERR_DATA_PLANE', 'config');
  }
}
