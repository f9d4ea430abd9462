// Login: the operator token or an account API key, exchanged once for a session cookie
// (POST /api/v1/session); the token is never stored by the console.
import { useState } from 'preact/hooks';
import { t } from '../lib/i18n';
import { login } from '../lib/session';
import { errorText, ApiError } from '../lib/api';
import { Button, Notice } from '../components/ui';

export function LoginPage(props: { linkError: string }) {
  const [token, setToken] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      await login({ token: token.trim() });
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) setError(t('login.wrong'));
      else if (err instanceof ApiError && err.status === 429) setError(t('login.limited'));
      else setError(errorText(err));
      setBusy(false);
    }
  };
  return (
    <main class="login" id="main">
      <form class="login-card" onSubmit={submit} aria-labelledby="login-title">
        <div class="login-brand">
          <img src="/console/favicon.svg" alt="" width={40} height={40} />
          <h1 id="login-title">{t('login.title')}</h1>
        </div>
        <p class="muted">{t('login.intro')}</p>
        {props.linkError && <Notice tone="bad">{props.linkError}</Notice>}
        {error && <Notice tone="bad">{error}</Notice>}
        <div class="field">
          <label for="login-token">{t('login.token')}</label>
          <input
            id="login-token"
            type="password"
            autoComplete="current-password"
            value={token}
            required
            aria-describedby="login-hint"
            onInput={(e) => setToken(e.currentTarget.value)}
          />
          <small class="hint" id="login-hint">
            {t('login.hint')}
          </small>
        </div>
        <Button type="submit" variant="primary" busy={busy} disabled={!token.trim()}>
          {t('login.submit')}
        </Button>
      </form>
    </main>
  );
}
