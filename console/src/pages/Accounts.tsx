// Accounts (operator): create (the first SMTP login shown once), switch into one, suspend with
// a reason or lift it, delete after typing the name.
import { useState } from 'preact/hooks';
import { Time } from '../components/time';
import { t } from '../lib/i18n';
import { api, enc, errorText } from '../lib/api';
import { actAs, actingAs } from '../lib/session';
import { useLoad } from '../lib/poll';
import { navigate } from '../lib/router';
import type { Account, CreatedAccount, Page } from '../api/types';
import { Badge, Button, Empty, ErrorNotice, Field, Loading, Notice, PageHeader, SecretOnce, Section } from '../components/ui';
import { confirmTyped } from '../components/confirm';
import { toast } from '../components/toast';

export function AccountsPage() {
  const list = useLoad(() => api.get<Page<Account>>('/api/v1/accounts?limit=1000'), [], 15000);
  const [name, setName] = useState('');
  const [created, setCreated] = useState<CreatedAccount | null>(null);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  const create = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      setCreated(await api.post<CreatedAccount>('/api/v1/accounts', { name: name.trim() }));
      setName('');
      await list.reload();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  const suspend = async (a: Account) => {
    const ok = await confirmTyped({
      title: t('accounts.suspendTitle', { name: a.name }),
      body: t('accounts.suspendBody'),
      name: a.name,
      action: t('accounts.suspend'),
      extra: { label: t('accounts.reason'), value: '' },
    });
    if (!ok) return;
    try {
      await api.post(`/api/v1/accounts/${enc(a.name)}/suspend`, { reason: ok.extra.trim() });
      toast(t('accounts.suspended', { name: a.name }));
      await list.reload();
    } catch (err) {
      setError(errorText(err));
    }
  };
  const unsuspend = async (a: Account) => {
    try {
      await api.post(`/api/v1/accounts/${enc(a.name)}/unsuspend`);
      toast(t('accounts.unsuspended', { name: a.name }));
      await list.reload();
    } catch (err) {
      setError(errorText(err));
    }
  };
  const remove = async (a: Account) => {
    const ok = await confirmTyped({ title: t('accounts.deleteTitle', { name: a.name }), body: t('accounts.deleteBody'), name: a.name, action: t('common.delete') });
    if (!ok) return;
    try {
      await api.del(`/api/v1/accounts/${enc(a.name)}`);
      if (actingAs.value === a.name) actAs(null);
      toast(t('accounts.deleted', { name: a.name }));
      await list.reload();
    } catch (err) {
      setError(errorText(err));
    }
  };
  const switchTo = (a: Account) => {
    actAs(a.name);
    navigate('sending');
  };

  return (
    <>
      <PageHeader title={t('accounts.title')} intro={t('accounts.intro')} />
      <Section title={t('accounts.createTitle')}>
        <form class="form form-inline" onSubmit={create}>
          <Field label={t('accounts.name')} id="account-name" hint={t('accounts.nameHint')}>
            <input id="account-name" required pattern="[a-z0-9][a-z0-9._\-]{0,63}" value={name} onInput={(e) => setName(e.currentTarget.value)} aria-describedby="account-name-hint" />
          </Field>
          <Button type="submit" variant="primary" busy={busy}>
            {t('accounts.create')}
          </Button>
        </form>
        {created && (
          <>
            <Notice tone="ok">{t('accounts.created', { name: created.account.name, username: created.username })}</Notice>
            <SecretOnce label={t('accounts.password', { username: created.username })} value={created.password} onDone={() => setCreated(null)} />
          </>
        )}
      </Section>
      <ErrorNotice error={error} />
      <Section title={t('accounts.listTitle')}>
        {list.error && <Notice tone="bad">{list.error}</Notice>}
        {list.loading && !list.data && <Loading />}
        {list.data && list.data.items.length === 0 && <Empty text={t('accounts.empty')} />}
        {list.data && list.data.items.length > 0 && (
          <div class="table-wrap">
            <table class="table">
              <caption class="sr-only">{t('accounts.listTitle')}</caption>
              <thead>
                <tr>
                  <th scope="col">{t('accounts.name')}</th>
                  <th scope="col">{t('accounts.state')}</th>
                  <th scope="col">{t('accounts.createdAt')}</th>
                  <th scope="col"><span class="sr-only">{t('common.actions')}</span></th>
                </tr>
              </thead>
              <tbody>
                {list.data.items.map((a) => (
                  <tr key={a.id} class={actingAs.value === a.name ? 'row-current' : ''}>
                    <td>
                      <strong>{a.name}</strong>
                    </td>
                    <td>
                      {a.suspended ? (
                        <>
                          <Badge status="suspended" />
                          {a.suspendedReason && <div class="muted small">{a.suspendedReason}</div>}
                        </>
                      ) : (
                        <Badge status="active" />
                      )}
                    </td>
                    <td class="nowrap"><Time iso={a.createdAt} /></td>
                    <td class="row-actions">
                      <Button class="btn-small" variant="primary" onClick={() => switchTo(a)} aria-label={t('accounts.switchFor', { name: a.name })}>
                        {t('accounts.switch')}
                      </Button>
                      {a.suspended ? (
                        <Button class="btn-small" onClick={() => void unsuspend(a)} aria-label={t('accounts.unsuspendFor', { name: a.name })}>
                          {t('accounts.unsuspend')}
                        </Button>
                      ) : (
                        <Button class="btn-small" onClick={() => void suspend(a)} aria-label={t('accounts.suspendFor', { name: a.name })}>
                          {t('accounts.suspend')}
                        </Button>
                      )}
                      <Button class="btn-small" variant="danger" onClick={() => void remove(a)} aria-label={t('accounts.deleteFor', { name: a.name })}>
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
    </>
  );
}
