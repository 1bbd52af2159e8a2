/** JSON requests to a balancer's admin API, for tests. */
import { once } from 'node:events';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface AdminResponse {
  readonly status: number;
  readonly headers: Headers;
  /** Parsed JSON; every admin answer but /metrics is JSON, so a parse failure throws. */
  readonly body: any;
  readonly text: string;
}

export interface RequestOptions {
  /** Sent as JSON unless it is already a string or Buffer (sent as is). */
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
}

export interface AdminClient {
  readonly base: string;
  request(method: string, path: string, options?: RequestOptions): Promise<AdminResponse>;
  get(path: string): Promise<AdminResponse>;
  post(path: string, body?: unknown): Promise<AdminResponse>;
  patch(path: string, body?: unknown): Promise<AdminResponse>;
  delete(path: string): Promise<AdminResponse>;
  /** GET /backends, the list only: for "the registry is unchanged" checks. */
  backends(): Promise<any[]>;
}

export function adminClient(address: AddressInfo, token?: string): AdminClient {
  const base = `http://127.0.0.1:${address.port}`;
  const request = async (method: string, path: string, { body, headers = {} }: RequestOptions = {}): Promise<AdminResponse> => {
    const h: Record<string, string> = { ...(token === undefined ? {} : { authorization: `Bearer ${token}` }), ...headers };
    let payload: string | Blob | undefined;
    if (body !== undefined) {
      payload = typeof body === 'string' ? body : Buffer.isBuffer(body) ? new Blob([new Uint8Array(body)]) : JSON.stringify(body);
      h['content-type'] ??= 'application/json';
    }
    const res = await fetch(base + path, { method, headers: h, ...(payload === undefined ? {} : { body: payload }) });
    const text = await res.text();
    const isJson = (res.headers.get('content-type') ?? '').startsWith('application/json');
    return { status: res.status, headers: res.headers, text, body: isJson ? JSON.parse(text) : undefined };
  };
  return {
    base,
    request,
    get: (path) => request('GET', path),
    post: (path, body) => request('POST', path, body === undefined ? {} : { body }),
    patch: (path, body) => request('PATCH', path, body === undefined ? {} : { body }),
    delete: (path) => request('DELETE', path),
    backends: async () => {
      const res = await request('GET', '/backends');
      if (res.status !== 200) throw new Error(`GET /backends: ${res.status} ${res.text}`);
      return res.body.data.backends;
    },
  };
}

/** Sends raw bytes to the admin port and returns whatever comes back before it closes (for malformed HTTP). */
export async function rawAdminRequest(address: AddressInfo, bytes: string, encoding: BufferEncoding = 'utf8'): Promise<string> {
  const socket = connect(address.port, '127.0.0.1');
  await once(socket, 'connect');
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.on('error', () => {});
  socket.write(bytes, encoding);
  await once(socket, 'close');
  return Buffer.concat(chunks).toString('utf8');
}
