// Suppressions: the addresses Tern will not send to, with reason and date; search, add one,
// remove one, and bulk add or remove (pasted list, or the rows ticked).
import { useState } from 'preact/hooks';
import { Time } from '../components/time';
import { t } from '../lib/i18n';
import { api, enc, errorText, qs } from '../lib/api';
import { scoped } from '../lib/session';
import { useLoad } from '../lib/poll';
import { route, href, navigate } from '../lib/router';
import type { BulkResult, Page, Suppression } from '../api/types';
import { Button, Empty, ErrorNotice, Field, Loading, Notice, PageHeader, Section } from '../components/ui';
import { confirmTyped } from '../components/confirm';
import { toast } from '../components/toast';

export function SuppressionsPage() {
  const q = route.value.query.get('q') ?? '';
  const [search, setSearch] = useState(q);
  const list = useLoad(() => api.get<Page<Suppression>>(scoped('/suppressions' + qs({ q, limit: 200 }))), [q], 15000);
  const [address, setAddress] = useState('');
  const [reason, setReason] = useState('');
  const [bulk, setBulk] = useState('');
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [error, setError] = useState('');
  const [busy, setBusy] = useState('');
  const [bulkResult, setBulkResult] = useState<BulkResult | null>(null);

  const add = async (e: Event) => {
    e.preventDefault();
    setBusy('add');
    setError('');
    try {
      await api.post(scoped('/suppressions'), { address: address.trim(), ...(reason.trim() ? { reason: reason.trim() } : {}) });
      toast(t('supp.added', { address: address.trim() }));
      setAddress('');
      setReason('');
      await list.reload();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy('');
    }
  };
  const remove = async (a: string) => {
    setError('');
    try {
      await api.del(scoped(`/suppressions/${enc(a)}`));
      toast(t('supp.removed', { address: a }));
      await list.reload();
    } catch (err) {
      setError(errorText(err));
    }
  };
  const runBulk = async (body: { add?: string[]; remove?: string[] }) => {
    setBusy('bulk');
    setError('');
    setBulkResult(null);
    try {
      const r = await api.post<BulkResult>(scoped('/suppressions/bulk'), body);
      setBulkResult(r);
      setSelected(new Set());
      await list.reload();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy('');
    }
  };
  const bulkList = () => bulk.split(/[\s,;]+/).map((x) => x.trim()).filter(Boolean);
  const removeSelected = async () => {
    const n = selected.size;
    const ok = await confirmTyped({ title: t('supp.bulkRemoveTitle'), body: t('supp.bulkRemoveBody', { n }), name: String(n), action: t('common.remove') });
    if (ok) await runBulk({ remove: [...selected] });
  };
  const toggle = (a: string) => {
    const s = new Set(selected);
    if (s.has(a)) s.delete(a);
    else s.add(a);
    setSelected(s);
  };
  const items = list.data?.items ?? [];

  return (
    <>
      <PageHeader title={t('supp.title')} intro={t('supp.intro')} />
      <ErrorNotice error={error} />
      <div class="two-col">
        <Section title={t('supp.addTitle')}>
          <form class="form" onSubmit={add}>
            <Field label={t('supp.address')} id="supp-address">
              <input id="supp-address" type="email" required value={address} onInput={(e) => setAddress(e.currentTarget.value)} />
            </Field>
            <Field label={t('supp.reason')} id="supp-reason">
              <input id="supp-reason" value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
            </Field>
            <div class="actions">
              <Button type="submit" variant="primary" busy={busy === 'add'}>
                {t('supp.add')}
              </Button>
            </div>
          </form>
        </Section>
        <Section title={t('supp.bulkTitle')} intro={t('supp.bulkIntro')}>
          <div class="form">
            <Field label={t('supp.bulkList')} id="supp-bulk">
              <textarea id="supp-bulk" rows={4} value={bulk} onInput={(e) => setBulk(e.currentTarget.value)} />
            </Field>
            <div class="actions">
              <Button busy={busy === 'bulk'} disabled={!bulk.trim()} onClick={() => void runBulk({ add: bulkList() })}>
                {t('supp.bulkAdd')}
              </Button>
              <Button busy={busy === 'bulk'} disabled={!bulk.trim()} onClick={() => void runBulk({ remove: bulkList() })}>
                {t('supp.bulkRemove')}
              </Button>
            </div>
            {bulkResult && (
              <Notice tone={bulkResult.invalid.length ? 'warn' : 'ok'}>
                {t('supp.bulkResult', { added: bulkResult.added, removed: bulkResult.removed })}
                {bulkResult.invalid.length > 0 && ' ' + t('supp.bulkInvalid', { list: bulkResult.invalid.join(', ') })}
              </Notice>
            )}
          </div>
        </Section>
      </div>
      <Section
        title={t('supp.listTitle')}
        actions={
          selected.size > 0 && (
            <Button variant="danger" class="btn-small" onClick={() => void removeSelected()}>
              {t('supp.removeSelected', { n: selected.size })}
            </Button>
          )
        }
      >
        <form
          class="form form-inline"
          role="search"
          aria-label={t('supp.search')}
          onSubmit={(e) => {
            e.preventDefault();
            navigate(href('suppressions', { q: search.trim() }));
          }}
        >
          <Field label={t('supp.search')} id="supp-q">
            <input id="supp-q" type="search" value={search} onInput={(e) => setSearch(e.currentTarget.value)} />
          </Field>
          <Button type="submit">{t('supp.searchButton')}</Button>
        </form>
        {list.error && <Notice tone="bad">{list.error}</Notice>}
        {list.loading && !list.data && <Loading />}
        {list.data && items.length === 0 && <Empty text={q ? t('supp.noMatch') : t('supp.empty')} />}
        {items.length > 0 && (
          <div class="table-wrap">
            <table class="table">
              <caption class="sr-only">{t('supp.listTitle')}</caption>
              <thead>
                <tr>
                  <th scope="col" class="check"><span class="sr-only">{t('common.select')}</span></th>
                  <th scope="col">{t('supp.address')}</th>
                  <th scope="col">{t('supp.reason')}</th>
                  <th scope="col">{t('supp.date')}</th>
                  <th scope="col"><span class="sr-only">{t('common.actions')}</span></th>
                </tr>
              </thead>
              <tbody>
                {items.map((s) => (
                  <tr key={s.address}>
                    <td class="check">
                      <input type="checkbox" checked={selected.has(s.address)} onChange={() => toggle(s.address)} aria-label={t('supp.selectFor', { address: s.address })} />
                    </td>
                    <td>{s.address}</td>
                    <td>{s.reason || '—'}</td>
                    <td class="nowrap"><Time iso={s.createdAt} /></td>
                    <td class="row-actions">
                      <Button class="btn-small" onClick={() => void remove(s.address)} aria-label={t('supp.removeFor', { address: s.address })}>
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
