// Senders: single From addresses proven by an emailed link (send, resend, expiry, remove).
import { useState } from 'preact/hooks';
import { t } from '../lib/i18n';
import { api, enc, errorText } from '../lib/api';
import { scoped } from '../lib/session';
import { useLoad } from '../lib/poll';
import { time } from '../lib/format';
import type { Page, Sender } from '../api/types';
import { Badge, Button, Empty, ErrorNotice, Field, Loading, Notice, PageHeader, Section } from '../components/ui';
import { confirmTyped } from '../components/confirm';
import { toast } from '../components/toast';

export function SendersPage() {
  const list = useLoad(() => api.get<Page<Sender>>(scoped('/senders?limit=1000')), [], 15000);
  const [address, setAddress] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const send = async (a: string) => {
    setError('');
    try {
      const s = await api.post<Sender>(scoped('/senders'), { address: a });
      toast(s.verified ? t('senders.alreadyVerified') : t('senders.linkSent', { address: a }));
      await list.reload();
    } catch (err) {
      setError(errorText(err));
    }
  };
  const add = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    await send(address.trim());
    setAddress('');
    setBusy(false);
  };
  const remove = async (a: string) => {
    const ok = await confirmTyped({ title: t('senders.removeTitle'), body: t('senders.removeBody'), name: a, action: t('common.remove') });
    if (!ok) return;
    try {
      await api.del(scoped(`/senders/${enc(a)}`));
      await list.reload();
    } catch (err) {
      setError(errorText(err));
    }
  };
  return (
    <>
      <PageHeader title={t('senders.title')} intro={t('senders.intro')} />
      <Section title={t('senders.addTitle')}>
        <form class="form form-inline" onSubmit={add}>
          <Field label={t('senders.address')} id="sender-address">
            <input id="sender-address" type="email" required value={address} onInput={(e) => setAddress(e.currentTarget.value)} />
          </Field>
          <Button type="submit" variant="primary" busy={busy}>
            {t('senders.send')}
          </Button>
        </form>
        <ErrorNotice error={error} />
      </Section>
      <Section title={t('senders.listTitle')}>
        {list.error && <Notice tone="bad">{list.error}</Notice>}
        {list.loading && !list.data && <Loading />}
        {list.data && list.data.items.length === 0 && <Empty text={t('senders.empty')} />}
        {list.data && list.data.items.length > 0 && (
          <div class="table-wrap">
            <table class="table">
              <caption class="sr-only">{t('senders.listTitle')}</caption>
              <thead>
                <tr>
                  <th scope="col">{t('senders.address')}</th>
                  <th scope="col">{t('senders.state')}</th>
                  <th scope="col">{t('senders.expires')}</th>
                  <th scope="col"><span class="sr-only">{t('common.actions')}</span></th>
                </tr>
              </thead>
              <tbody>
                {list.data.items.map((s) => (
                  <tr key={s.address}>
                    <td>{s.address}</td>
                    <td>{s.verified ? <Badge status="verified" /> : <Badge status="pending" label={t('senders.waiting')} />}</td>
                    <td class="nowrap">{s.verified ? '—' : time(s.verificationExpiresAt)}</td>
                    <td class="row-actions">
                      {!s.verified && (
                        <Button class="btn-small" onClick={() => void send(s.address)} aria-label={t('senders.resendFor', { address: s.address })}>
                          {t('senders.resend')}
                        </Button>
                      )}
                      <Button class="btn-small" variant="danger" onClick={() => void remove(s.address)} aria-label={t('senders.removeFor', { address: s.address })}>
                        {t('common.remove')}
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
