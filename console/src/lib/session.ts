// Who is logged in (the session of POST /api/v1/session) and, for the operator, which account
// the console acts as. Account pages call API paths through scoped(): the short form for an
// account's session, /api/v1/accounts/{id}/… for the operator acting as an account.
import { computed, signal } from '@preact/signals';
import { api, csrfToken, setUnauthorizedHandler, ApiError } from './api';
import type { Session } from '../api/types';

export const session = signal<Session | null>(null);
export const sessionChecked = signal(false);
const ACTING_KEY = 'tern.actingAs';
export const actingAs = signal<string | null>(sessionStorage.getItem(ACTING_KEY));

export const isOperator = computed(() => session.value?.kind === 'operator');
// The account the account pages show: an account session's own, or the operator's choice.
export const currentAccount = computed<string | null>(() => {
  const s = session.value;
  if (!s) return null;
  if (s.kind === 'account') return s.account?.name ?? null;
  return actingAs.value;
});

export function actAs(name: string | null) {
  actingAs.value = name;
  if (name) sessionStorage.setItem(ACTING_KEY, name);
  else sessionStorage.removeItem(ACTING_KEY);
}

export function scoped(path: string): string {
  const s = session.value;
  if (s?.kind === 'operator') {
    if (!actingAs.value) throw new ApiError(0, 'no_account', 'no account chosen');
    return `/api/v1/accounts/${encodeURIComponent(actingAs.value)}${path}`;
  }
  return `/api/v1${path}`;
}

function adopt(s: Session) {
  csrfToken.value = s.csrf;
  session.value = s;
  if (s.kind === 'account') actAs(null);
}

export async function loadSession(): Promise<void> {
  try {
    adopt(await api.get<Session>('/api/v1/session', { quiet401: true }));
  } catch {
    session.value = null;
  } finally {
    sessionChecked.value = true;
  }
}

export async function login(body: { token: string } | { code: string }): Promise<void> {
  adopt(await api.post<Session>('/api/v1/session', body));
}

export async function logout(): Promise<void> {
  try {
    await api.del('/api/v1/session');
  } finally {
    csrfToken.value = '';
    session.value = null;
    actAs(null);
  }
}

setUnauthorizedHandler(() => {
  csrfToken.value = '';
  session.value = null;
});
