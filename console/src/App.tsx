// The shell: login gate, the side navigation (account pages, then the operator's), the top bar
// (account switcher, "acting as" banner, theme, UTC toggle, logout) and the page of the route.
import { useEffect, useState } from 'preact/hooks';
import type { ComponentType } from 'preact';
import { t, type MessageKey } from './lib/i18n';
import { route, href, navigate } from './lib/router';
import { session, sessionChecked, loadSession, login, logout, isOperator, currentAccount, actAs, actingAs } from './lib/session';
import { theme, utc, type Theme } from './lib/prefs';
import { api, errorText } from './lib/api';
import type { Account } from './api/types';
import { ConfirmHost } from './components/confirm';
import { ToastHost } from './components/toast';
import { LoginPage } from './pages/Login';
import { SendingPage } from './pages/Sending';
import { CapturedPage } from './pages/Captured';
import { DomainsPage } from './pages/Domains';
import { SendersPage } from './pages/Senders';
import { MessagesPage } from './pages/Messages';
import { SuppressionsPage } from './pages/Suppressions';
import { WebhooksPage } from './pages/Webhooks';
import { KeysPage } from './pages/Keys';
import { AccountsPage } from './pages/Accounts';
import { QueuePage } from './pages/Queue';
import { PlatformPage } from './pages/Platform';
import { NoAccount } from './pages/NoAccount';
import { Loading } from './components/ui';

// A page loaded only when first opened (the dashboard's chart library stays out of the first
// page's bytes).
function lazyPage(load: () => Promise<ComponentType>): ComponentType {
  let loaded: ComponentType | null = null;
  return function LazyPage() {
    const [, setReady] = useState(false);
    useEffect(() => {
      if (!loaded)
        void load().then((c) => {
          loaded = c;
          setReady(true);
        });
    }, []);
    const C = loaded;
    return C ? <C /> : <Loading />;
  };
}
const DashboardPage = lazyPage(() => import('./pages/Dashboard').then((m) => m.DashboardPage));

interface NavItem {
  path: string;
  label: MessageKey;
  page: ComponentType;
  operator?: boolean; // operator only
  account?: boolean; // needs an account (own, or the operator's choice)
}
const NAV: NavItem[] = [
  { path: 'sending', label: 'nav.sending', page: SendingPage, account: true },
  { path: 'captured', label: 'nav.captured', page: CapturedPage, account: true },
  { path: 'domains', label: 'nav.domains', page: DomainsPage, account: true },
  { path: 'senders', label: 'nav.senders', page: SendersPage, account: true },
  { path: 'messages', label: 'nav.messages', page: MessagesPage, account: true },
  { path: 'suppressions', label: 'nav.suppressions', page: SuppressionsPage, account: true },
  { path: 'dashboard', label: 'nav.dashboard', page: DashboardPage, account: true },
  { path: 'webhooks', label: 'nav.webhooks', page: WebhooksPage, account: true },
  { path: 'keys', label: 'nav.keys', page: KeysPage, account: true },
  { path: 'accounts', label: 'nav.accounts', page: AccountsPage, operator: true },
  { path: 'queue', label: 'nav.queue', page: QueuePage, operator: true },
  { path: 'platform', label: 'nav.platform', page: PlatformPage, operator: true },
];

function useLoginFragment(): string {
  const [error, setError] = useState('');
  useEffect(() => {
    const m = /^#login=([A-Za-z0-9_-]+)$/.exec(location.hash);
    if (location.hash.startsWith('#login=')) {
      // The code works once: remove it from the address bar (and history) before using it.
      history.replaceState(null, '', location.pathname + location.search);
    }
    if (m) {
      login({ code: m[1] })
        .catch((e) => setError(t('login.linkFailed', { reason: errorText(e) })))
        .finally(() => (sessionChecked.value = true));
    } else {
      void loadSession();
    }
  }, []);
  return error;
}

function AccountSwitcher() {
  const [accounts, setAccounts] = useState<Account[]>([]);
  useEffect(() => {
    api
      .get<{ items: Account[] }>('/api/v1/accounts?limit=1000')
      .then((p) => setAccounts(p.items))
      .catch(() => setAccounts([]));
  }, [route.value.path]);
  return (
    <div class="switcher">
      <label for="account-switcher">{t('shell.account')}</label>
      <select
        id="account-switcher"
        value={actingAs.value ?? ''}
        onChange={(e) => {
          const v = e.currentTarget.value;
          actAs(v || null);
          if (v && NAV.find((n) => n.path === route.value.path)?.operator) navigate('sending');
        }}
      >
        <option value="">{t('shell.noAccount')}</option>
        {accounts.map((a) => (
          <option key={a.id} value={a.name}>
            {a.name}
          </option>
        ))}
        {actingAs.value && !accounts.some((a) => a.name === actingAs.value) && <option value={actingAs.value}>{actingAs.value}</option>}
      </select>
    </div>
  );
}

function Prefs() {
  return (
    <div class="prefs">
      <label for="theme-select" class="sr-only">
        {t('shell.theme')}
      </label>
      <select id="theme-select" value={theme.value} onChange={(e) => (theme.value = e.currentTarget.value as Theme)}>
        <option value="system">{t('shell.themeSystem')}</option>
        <option value="light">{t('shell.themeLight')}</option>
        <option value="dark">{t('shell.themeDark')}</option>
      </select>
      <button type="button" class="btn btn-ghost btn-small" aria-pressed={utc.value} onClick={() => (utc.value = !utc.value)}>
        {utc.value ? t('shell.utcOn') : t('shell.utcOff')}
      </button>
    </div>
  );
}

export function App() {
  const linkError = useLoginFragment();
  const s = session.value;
  const path = route.value.path;
  const first = path.split('/')[0];

  useEffect(() => {
    const item = NAV.find((n) => n.path === first);
    document.title = item ? `${t(item.label)} · ${t('app.name')}` : t('app.name');
    // Move focus to the new page's heading so screen readers and keyboards start there.
    const h = document.getElementById('page-title');
    if (h && document.activeElement && document.activeElement !== document.body) h.focus();
  }, [path]);

  if (!sessionChecked.value) return <div class="boot" role="status">{t('common.loading')}</div>;
  if (!s)
    return (
      <>
        <LoginPage linkError={linkError} />
        <ToastHost />
      </>
    );

  const nav = NAV.filter((n) => !n.operator || isOperator.value);
  let item = nav.find((n) => n.path === first);
  if (!item) item = isOperator.value && !currentAccount.value ? NAV.find((n) => n.path === 'accounts')! : nav[0];
  const Page = item.account && !currentAccount.value ? NoAccount : item.page;
  const accountNav = nav.filter((n) => !n.operator);
  const operatorNav = nav.filter((n) => n.operator);

  return (
    <div class="shell">
      <a class="skip" href="#main">
        {t('shell.skip')}
      </a>
      <header class="topbar">
        <a class="brand" href={href('')}>
          <img src="/console/favicon.svg" alt="" width={24} height={24} />
          <span>{t('app.name')}</span>
        </a>
        {isOperator.value ? <AccountSwitcher /> : <span class="who">{t('shell.signedInAs', { name: s.account?.name ?? '' })}</span>}
        <div class="spacer" />
        <Prefs />
        <button type="button" class="btn btn-ghost btn-small" onClick={() => void logout()}>
          {t('shell.logout')}
        </button>
      </header>
      {isOperator.value && actingAs.value && (
        <div class="acting" role="status">
          <span>{t('shell.actingAs', { name: actingAs.value })}</span>
          <button type="button" class="btn btn-small" onClick={() => { actAs(null); navigate('accounts'); }}>
            {t('shell.stopActing')}
          </button>
        </div>
      )}
      <div class="body">
        <nav class="sidenav" aria-label={t('shell.nav')}>
          <ul>
            {accountNav.map((n) => (
              <li key={n.path}>
                <a href={href(n.path)} aria-current={n === item ? 'page' : undefined}>
                  {t(n.label)}
                </a>
              </li>
            ))}
          </ul>
          {operatorNav.length > 0 && (
            <>
              <h2 class="nav-group">{t('nav.operator')}</h2>
              <ul>
                {operatorNav.map((n) => (
                  <li key={n.path}>
                    <a href={href(n.path)} aria-current={n === item ? 'page' : undefined}>
                      {t(n.label)}
                    </a>
                  </li>
                ))}
              </ul>
            </>
          )}
        </nav>
        <main id="main" tabIndex={-1}>
          <Page key={`${item.path}:${currentAccount.value ?? ''}`} />
        </main>
      </div>
      <ConfirmHost />
      <ToastHost />
    </div>
  );
}
