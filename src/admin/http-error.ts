/**
 * A client error of the admin API with its HTTP status. Handlers throw these
 * (or ConfigError from the shared parsers, which is a 400); the server turns
 * them into JSend `fail` bodies. Anything else is a bug and becomes a 500.
 */
import { ConfigError, FulcrumError } from '../errors.ts';

export class HttpError extends FulcrumError {
  readonly status: number;
  readonly field: string | undefined;
  readonly headers: Readonly<Record<string, string>>;
  /** More fields for the JSend `fail` data (e.g. every error of a refused reload). */
  readonly data: Readonly<Record<string, unknown>> | undefined;

  constructor(
    status: number,
    code: string,
    message: string,
    options: { field?: string; headers?: Record<string, string>; cause?: unknown; data?: Record<string, unknown> } = {},
  ) {
    super(message, code, 'client', options.cause === undefined ? undefined : { cause: options.cause });
    this.status = status;
    this.field = options.field;
    this.headers = options.headers ?? {};
    this.data = options.data;
  }
}

export const badRequest = (message: string, field?: string) =>
  new HttpError(400, 'ERR_BAD_REQUEST', message, field === undefined ? {} : { field });

export const notFound = (message: string) => new HttpError(404, 'ERR_NOT_FOUND', message);

/** Maps what a handler threw to a client error, or undefined when it is a server fault. */
export function asClientError(err: unknown): HttpError | undefined {
  if (err instanceof HttpError) return err;
  if (err instanceof ConfigError) return new HttpError(400, 'ERR_INVALID_VALUE', err.message, { field: err.field, cause: err });
  return undefined;
}
