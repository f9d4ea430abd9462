// The one way the console talks to Tern: fetch on the same origin with the session cookie,
// the X-Tern-CSRF header on every request that changes state, JSON in and out, and errors as
// ApiError values carrying the API's {"error":{"code","message"}}.
import { signal } from '@preact/signals';

export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
  ) {
    super(message);
  }
}

// Set from the session (POST/GET /api/v1/session); sent on POST/PATCH/PUT/DELETE.
export const csrfToken = signal<string>('');
// Called when the API answers 401 (session ended, key revoked): back to the login page.
let onUnauthorized: () => void = () => {};
export function setUnauthorizedHandler(f: () => void) {
  onUnauthorized = f;
}

export async function request<T>(
  method: string,
  path: string,
  body?: unknown,
  opts: { raw?: boolean; quiet401?: boolean } = {},
): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD' && csrfToken.value) headers['X-Tern-CSRF'] = csrfToken.value;
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch (e) {
    throw new ApiError(0, 'network', e instanceof Error ? e.message : String(e));
  }
  if (res.status === 401 && !opts.quiet401) onUnauthorized();
  if (!res.ok) {
    let code = 'http_' + res.status;
    let message = res.statusText || `HTTP ${res.status}`;
    try {
      const j = await res.json();
      if (j && j.error) {
        code = j.error.code ?? code;
        message = j.error.message ?? message;
      }
    } catch {
      /* not JSON */
    }
    throw new ApiError(res.status, code, message);
  }
  if (opts.raw) return (await res.text()) as unknown as T;
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

export const api = {
  get: <T>(path: string, opts?: { quiet401?: boolean }) => request<T>('GET', path, undefined, opts),
  post: <T>(path: string, body?: unknown) => request<T>('POST', path, body ?? {}),
  patch: <T>(path: string, body: unknown) => request<T>('PATCH', path, body),
  del: <T = void>(path: string) => request<T>('DELETE', path),
  text: (path: string) => request<string>('GET', path, undefined, { raw: true }),
};

export function qs(params: Record<string, string | number | undefined | null>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') u.set(k, String(v));
  const s = u.toString();
  return s ? '?' + s : '';
}

export function enc(s: string): string {
  return encodeURIComponent(s);
}

export function errorText(e: unknown): string {
  if (e instanceof ApiError) return e.message;
  return e instanceof Error ? e.message : String(e);
}
