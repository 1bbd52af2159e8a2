// The admin API as the page calls it: same origin, JSON bodies sent as
// application/json, the bearer token from this tab's sessionStorage.
const KEY = 'fulcrum.adminToken';

export const token = {
  get: () => sessionStorage.getItem(KEY) ?? '',
  set: (value) => sessionStorage.setItem(KEY, value),
  clear: () => sessionStorage.removeItem(KEY),
};

/**
 * The Authorization header for the stored token. The server compares the
 * token's bytes as sent (UTF-8 included), and fetch() takes header values as
 * byte strings, so the UTF-8 bytes go one char each.
 */
export function authHeaders() {
  const t = token.get();
  if (!t) return {};
  const bytes = new TextEncoder().encode(t);
  let latin1 = '';
  for (const b of bytes) latin1 += String.fromCharCode(b);
  return { authorization: `Bearer ${latin1}` };
}

/** Calls the API; resolves with the HTTP status and the JSend body (a network failure is status 0). */
export async function call(method, path, body) {
  const headers = { ...authHeaders(), accept: 'application/json' };
  const init = { method, headers, cache: 'no-store' };
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    return { http: 0, jsend: { status: 'error', message: `request failed: ${err.message}` } };
  }
  try {
    return { http: res.status, jsend: await res.json() };
  } catch {
    return { http: res.status, jsend: { status: 'error', message: `HTTP ${res.status} without a JSON body` } };
  }
}

/** One line for a JSend answer: what the operator reads. */
export function describe({ http, jsend }) {
  if (jsend?.status === 'success') return `success (${http})`;
  if (jsend?.status === 'fail') return `fail (${http}): ${jsend.data?.title ?? 'no title'}`;
  return `error (${http}): ${jsend?.message ?? 'no message'}`;
}

export const servicePath = (service, rest) => `/services/${encodeURIComponent(service)}${rest}`;
