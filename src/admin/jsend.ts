/**
 * JSend bodies (https://github.com/omniti-labs/jsend) and the one function
 * that writes them, so every response, error or not, is JSON of this shape.
 */
import type { ServerResponse } from 'node:http';

export type JSend =
  | { readonly status: 'success'; readonly data: unknown }
  | { readonly status: 'fail'; readonly data: { readonly title: string; readonly code: string; readonly field?: string; readonly [more: string]: unknown } }
  | { readonly status: 'error'; readonly message: string; readonly code?: string; readonly data?: unknown };

export const success = (data: unknown): JSend => ({ status: 'success', data });

export const fail = (title: string, code: string, field?: string, more?: Readonly<Record<string, unknown>>): JSend => ({
  status: 'fail',
  data: { ...more, title, code, ...(field !== undefined && { field }) },
});

export const error = (message: string, code?: string, data?: unknown): JSend => ({ status: 'error', message, ...(code !== undefined && { code }), ...(data !== undefined && { data }) });

export function sendJson(res: ServerResponse, status: number, body: JSend, headers: Readonly<Record<string, string>> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}
