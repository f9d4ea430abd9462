// Client-side routes under /console/ (tern answers index.html for any of them): the path and
// the query are signals; links are ordinary <a href> that navigate() intercepts, so the back
// button, reloads and shared URLs (a message search) all work.
import { signal } from '@preact/signals';

export const BASE = '/console/';
function current() {
  const p = location.pathname.startsWith(BASE) ? location.pathname.slice(BASE.length) : '';
  return { path: p.replace(/\/$/, ''), query: new URLSearchParams(location.search) };
}
export const route = signal(current());

export function navigate(to: string, replace = false) {
  const url = to.startsWith('/') ? to : BASE + to;
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  route.value = current();
  if (!replace) window.scrollTo(0, 0);
}

export function href(path: string, query?: Record<string, string>): string {
  const q = query ? new URLSearchParams(Object.entries(query).filter(([, v]) => v !== '')).toString() : '';
  return BASE + path + (q ? '?' + q : '');
}

export function startRouter() {
  window.addEventListener('popstate', () => (route.value = current()));
  document.addEventListener('click', (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const a = (e.target as Element | null)?.closest?.('a');
    if (!a || a.target || a.hasAttribute('download')) return;
    const url = new URL(a.href, location.href);
    if (url.origin !== location.origin || !url.pathname.startsWith(BASE)) return;
    e.preventDefault();
    navigate(url.pathname + url.search);
  });
}
