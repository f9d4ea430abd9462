// Queue (operator): what waits for delivery, grouped by destination or by account, with retry
// now / hold / release / delete for the groups ticked (delete asks to type the count).
import { useState } from 'preact/hooks';
import { Time } from '../components/time';
import { t } from '../lib/i18n';
import { api, errorText } from '../lib/api';
import { useLoad } from '../lib/poll';
import { num } from '../lib/format';
import type { QueueActionResult, QueueGroups } from '../api/types';
import { Button, Empty, ErrorNotice, Loading, Notice, PageHeader, Section } from '../components/ui';
import { confirmTyped } from '../components/confirm';
import { toast } from '../components/toast';

type By = 'destination' | 'account';
type Action = 'retry' | 'hold' | 'release' | 'delete';

export function QueuePage() {
  const [by, setBy] = useState<By>('destination');
  const list = useLoad(() => api.get<QueueGroups>(`/api/v1/queue?by=${by}`), [by], 5000);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [error, setError] = useState('');
  const [busy, setBusy] = useState('');
  const groups = list.data?.groups ?? [];

  const run = async (action: Action) => {
    const keys = [...selected];
    if (action === 'delete') {
      const total = groups.filter((g) => selected.has(g.key)).reduce((n, g) => n + g.messages, 0);
      const ok = await confirmTyped({ title: t('queue.deleteTitle'), body: t('queue.deleteBody', { n: total }), name: String(total), action: t('queue.action.delete') });
      if (!ok) return;
    }
    setBusy(action);
    setError('');
    try {
      let count = 0;
      for (const key of keys) {
        const r = await api.post<QueueActionResult>('/api/v1/queue/actions', { action, [by]: key });
        count += r.count;
      }
      toast(t('queue.done', { action: t(`queue.action.${action}`), n: count }));
      setSelected(new Set());
      await list.reload();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy('');
    }
  };
  const toggle = (k: string) => {
    const s = new Set(selected);
    if (s.has(k)) s.delete(k);
    else s.add(k);
    setSelected(s);
  };
  const allOn = groups.length > 0 && groups.every((g) => selected.has(g.key));

  return (
    <>
      <PageHeader
        title={t('queue.title')}
        intro={t('queue.intro')}
        actions={
          <div class="segmented" role="group" aria-label={t('queue.groupBy')}>
            {(['destination', 'account'] as By[]).map((b) => (
              <button key={b} type="button" class="btn btn-small" aria-pressed={by === b} onClick={() => { setBy(b); setSelected(new Set()); }}>
                {t(`queue.by.${b}`)}
              </button>
            ))}
          </div>
        }
      />
      <ErrorNotice error={error} />
      <Section
        title={t('queue.groups')}
        actions={
          <div class="actions">
            {(['retry', 'hold', 'release', 'delete'] as Action[]).map((a) => (
              <Button key={a} class="btn-small" variant={a === 'delete' ? 'danger' : 'default'} disabled={selected.size === 0} busy={busy === a} onClick={() => void run(a)}>
                {t(`queue.action.${a}`)}
              </Button>
            ))}
          </div>
        }
      >
        {list.error && <Notice tone="warn">{list.error}</Notice>}
        {list.loading && !list.data && <Loading />}
        {list.data && groups.length === 0 && <Empty text={t('queue.empty')} />}
        {groups.length > 0 && (
          <div class="table-wrap">
            <table class="table">
              <caption class="sr-only">{t('queue.groups')}</caption>
              <thead>
                <tr>
                  <th scope="col" class="check">
                    <input type="checkbox" checked={allOn} aria-label={t('queue.selectAll')} onChange={() => setSelected(allOn ? new Set() : new Set(groups.map((g) => g.key)))} />
                  </th>
                  <th scope="col">{t(`queue.by.${by}`)}</th>
                  <th scope="col" class="num">{t('queue.messages')}</th>
                  <th scope="col" class="num">{t('queue.recipients')}</th>
                  <th scope="col" class="num">{t('queue.held')}</th>
                  <th scope="col">{t('queue.oldest')}</th>
                  <th scope="col">{t('queue.next')}</th>
                </tr>
              </thead>
              <tbody>
                {groups.map((g) => (
                  <tr key={g.key}>
                    <td class="check">
                      <input type="checkbox" checked={selected.has(g.key)} onChange={() => toggle(g.key)} aria-label={t('queue.selectFor', { key: g.key })} />
                    </td>
                    <td><code>{g.key}</code></td>
                    <td class="num">{num(g.messages)}</td>
                    <td class="num">{num(g.recipients)}</td>
                    <td class="num">{num(g.held)}</td>
                    <td class="nowrap"><Time iso={g.oldestAt} /></td>
                    <td class="nowrap"><Time iso={g.nextAttemptAt} /></td>
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
