// Keys and credentials: API keys (for the REST API) and SMTP logins (for AUTH), each created
// with its secret shown once, and revoked or deleted after typing its name.
import { useState } from 'preact/hooks';
import { Time } from '../components/time';
import { t } from '../lib/i18n';
import { api, enc, errorText } from '../lib/api';
import { scoped } from '../lib/session';
import { useLoad } from '../lib/poll';
import { time } from '../lib/format';
import type { ApiKey, CreatedApiKey, CreatedCredential, Credential, Page } from '../api/types';
import { Badge, Button, Empty, ErrorNotice, Field, Loading, Notice, PageHeader, SecretOnce, Section } from '../components/ui';
import { confirmTyped } from '../components/confirm';

function ApiKeys() {
  const list = useLoad(() => api.get<Page<ApiKey>>(scoped('/api-keys?limit=1000')), []);
  const [created, setCreated] = useState<CreatedApiKey | null>(null);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const create = async () => {
    setBusy(true);
    setError('');
    try {
      setCreated(await api.post<CreatedApiKey>(scoped('/api-keys')));
      await list.reload();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  const revoke = async (prefix: string) => {
    const ok = await confirmTyped({ title: t('keys.revokeTitle'), body: t('keys.revokeBody'), name: prefix, action: t('keys.revoke') });
    if (!ok) return;
    try {
      await api.del(scoped(`/api-keys/${enc(prefix)}`));
      await list.reload();
    } catch (err) {
      setError(errorText(err));
    }
  };
  return (
    <Section
      title={t('keys.apiTitle')}
      intro={t('keys.apiIntro')}
      actions={
        <Button variant="primary" class="btn-small" busy={busy} onClick={() => void create()}>
          {t('keys.create')}
        </Button>
      }
    >
      <ErrorNotice error={error} />
      {created && <SecretOnce label={t('keys.newKey')} value={created.key} onDone={() => setCreated(null)} />}
      {list.error && <Notice tone="bad">{list.error}</Notice>}
      {list.loading && !list.data && <Loading />}
      {list.data && list.data.items.length === 0 && <Empty text={t('keys.empty')} />}
      {list.data && list.data.items.length > 0 && (
        <div class="table-wrap">
          <table class="table">
            <caption class="sr-only">{t('keys.apiTitle')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('keys.prefix')}</th>
                <th scope="col">{t('keys.created')}</th>
                <th scope="col">{t('keys.state')}</th>
                <th scope="col"><span class="sr-only">{t('common.actions')}</span></th>
              </tr>
            </thead>
            <tbody>
              {list.data.items.map((k) => (
                <tr key={k.prefix}>
                  <td><code>{k.prefix}…</code></td>
                  <td class="nowrap"><Time iso={k.createdAt} /></td>
                  <td>{k.active ? <Badge status="active" /> : <Badge status="revoked" label={t('keys.revokedAt', { at: time(k.revokedAt) })} />}</td>
                  <td class="row-actions">
                    {k.active && (
                      <Button class="btn-small" variant="danger" onClick={() => void revoke(k.prefix)} aria-label={t('keys.revokeFor', { prefix: k.prefix })}>
                        {t('keys.revoke')}
                      </Button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Section>
  );
}

function Credentials() {
  const list = useLoad(() => api.get<Page<Credential>>(scoped('/credentials?limit=1000')), []);
  const [created, setCreated] = useState<CreatedCredential | null>(null);
  const [username, setUsername] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const create = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      setCreated(await api.post<CreatedCredential>(scoped('/credentials'), username.trim() ? { username: username.trim() } : {}));
      setUsername('');
      await list.reload();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  const remove = async (u: string) => {
    const ok = await confirmTyped({ title: t('creds.deleteTitle'), body: t('creds.deleteBody'), name: u, action: t('common.delete') });
    if (!ok) return;
    try {
      await api.del(scoped(`/credentials/${enc(u)}`));
      await list.reload();
    } catch (err) {
      setError(errorText(err));
    }
  };
  return (
    <Section title={t('creds.title')} intro={t('creds.intro')}>
      <form class="form form-inline" onSubmit={create}>
        <Field label={t('creds.username')} id="cred-username" hint={t('creds.usernameHint')}>
          <input id="cred-username" value={username} onInput={(e) => setUsername(e.currentTarget.value)} aria-describedby="cred-username-hint" />
        </Field>
        <Button type="submit" variant="primary" busy={busy}>
          {t('creds.create')}
        </Button>
      </form>
      <ErrorNotice error={error} />
      {created && (
        <SecretOnce label={t('creds.newPassword', { username: created.username })} value={created.password} onDone={() => setCreated(null)} />
      )}
      {list.error && <Notice tone="bad">{list.error}</Notice>}
      {list.data && list.data.items.length === 0 && <Empty text={t('creds.empty')} />}
      {list.data && list.data.items.length > 0 && (
        <div class="table-wrap">
          <table class="table">
            <caption class="sr-only">{t('creds.title')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('creds.username')}</th>
                <th scope="col">{t('keys.created')}</th>
                <th scope="col"><span class="sr-only">{t('common.actions')}</span></th>
              </tr>
            </thead>
            <tbody>
              {list.data.items.map((c) => (
                <tr key={c.username}>
                  <td><code>{c.username}</code></td>
                  <td class="nowrap"><Time iso={c.createdAt} /></td>
                  <td class="row-actions">
                    <Button class="btn-small" variant="danger" onClick={() => void remove(c.username)} aria-label={t('creds.deleteFor', { username: c.username })}>
                      {t('common.delete')}
                    </Button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Section>
  );
}

export function KeysPage() {
  return (
    <>
      <PageHeader title={t('keys.title')} intro={t('keys.intro')} />
      <ApiKeys />
      <Credentials />
    </>
  );
}
