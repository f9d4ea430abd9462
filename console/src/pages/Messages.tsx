// Messages: search by recipient, status, bulk id and time, with the search in the URL (a
// search can be shared or reloaded), and one recipient's timeline: every attempt with the
// remote reply, MX host and TLS, opens and clicks, and the webhook attempts.
import { useState } from 'preact/hooks';
import { Time } from '../components/time';
import { t } from '../lib/i18n';
import { api, enc, qs } from '../lib/api';
import { scoped } from '../lib/session';
import { useLoad } from '../lib/poll';
import { route, href, navigate } from '../lib/router';
import { fromInputTime, toInputTime } from '../lib/format';
import type { Message, MessageDetail, Page } from '../api/types';
import { Badge, Button, Empty, Field, KeyValue, Loading, Notice, PageHeader, Section } from '../components/ui';

const STATUSES = ['accepted', 'deferred', 'delivered', 'bounced', 'expired', 'rejected'];
const FILTERS = ['recipient', 'status', 'bulkId', 'from', 'to'] as const;

function SearchForm() {
  const q = route.value.query;
  const [v, setV] = useState<Record<string, string>>({
    recipient: q.get('recipient') ?? '',
    status: q.get('status') ?? '',
    bulkId: q.get('bulkId') ?? '',
    from: toInputTime(q.get('from') ?? ''),
    to: toInputTime(q.get('to') ?? ''),
  });
  const set = (k: string) => (e: Event) => setV({ ...v, [k]: (e.currentTarget as HTMLInputElement).value });
  const submit = (e: Event) => {
    e.preventDefault();
    navigate(href('messages', { recipient: v.recipient.trim(), status: v.status, bulkId: v.bulkId.trim(), from: fromInputTime(v.from), to: fromInputTime(v.to) }));
  };
  return (
    <form class="form search" role="search" aria-label={t('messages.search')} onSubmit={submit}>
      <div class="grid grid-5">
        <Field label={t('messages.recipient')} id="q-recipient">
          <input id="q-recipient" type="search" value={v.recipient} onInput={set('recipient')} />
        </Field>
        <Field label={t('messages.status')} id="q-status">
          <select id="q-status" value={v.status} onChange={set('status')}>
            <option value="">{t('messages.anyStatus')}</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </Field>
        <Field label={t('messages.bulkId')} id="q-bulk">
          <input id="q-bulk" value={v.bulkId} onInput={set('bulkId')} />
        </Field>
        <Field label={t('messages.from')} id="q-from">
          <input id="q-from" type="datetime-local" value={v.from} onInput={set('from')} />
        </Field>
        <Field label={t('messages.to')} id="q-to">
          <input id="q-to" type="datetime-local" value={v.to} onInput={set('to')} />
        </Field>
      </div>
      <div class="actions">
        <Button type="submit" variant="primary">
          {t('messages.searchButton')}
        </Button>
        <a class="btn btn-ghost" href={href('messages')}>
          {t('messages.clear')}
        </a>
      </div>
    </form>
  );
}

function Results() {
  const q = route.value.query;
  const params: Record<string, string> = {};
  for (const f of FILTERS) if (q.get(f)) params[f] = q.get(f)!;
  const cursor = q.get('cursor') ?? '';
  const key = JSON.stringify(params) + cursor;
  const list = useLoad(() => api.get<Page<Message>>(scoped('/messages' + qs({ ...params, cursor, limit: 50 }))), [key], 10000);
  return (
    <Section title={t('messages.results')}>
      {list.error && <Notice tone="bad">{list.error}</Notice>}
      {list.loading && !list.data && <Loading />}
      {list.data && list.data.items.length === 0 && <Empty text={t('messages.empty')} />}
      {list.data && list.data.items.length > 0 && (
        <>
          <div class="table-wrap">
            <table class="table">
              <caption class="sr-only">{t('messages.results')}</caption>
              <thead>
                <tr>
                  <th scope="col">{t('messages.time')}</th>
                  <th scope="col">{t('messages.recipient')}</th>
                  <th scope="col">{t('messages.subject')}</th>
                  <th scope="col">{t('messages.status')}</th>
                  <th scope="col">{t('messages.bulkId')}</th>
                </tr>
              </thead>
              <tbody>
                {list.data.items.map((m) => (
                  <tr key={m.messageId}>
                    <td class="nowrap"><Time iso={m.createdAt} /></td>
                    <td>
                      <a href={href(`messages/${m.messageId}`)}>{m.to}</a>
                    </td>
                    <td class="truncate">{m.subject || '—'}</td>
                    <td>
                      <Badge status={m.status} />
                    </td>
                    <td>{m.bulkId || '—'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {list.data.nextCursor && (
            <p>
              <a class="btn" href={href('messages', { ...params, cursor: list.data.nextCursor })}>
                {t('common.nextPage')}
              </a>
            </p>
          )}
        </>
      )}
    </Section>
  );
}

function Timeline(props: { id: string }) {
  const one = useLoad(() => api.get<MessageDetail>(scoped(`/messages/${enc(props.id)}`)), [props.id], 10000);
  const m = one.data;
  return (
    <>
      <PageHeader title={t('messages.timelineTitle')} intro={props.id} />
      <p>
        <a href={href('messages')}>← {t('messages.back')}</a>
      </p>
      {one.error && <Notice tone="bad">{one.error}</Notice>}
      {!m && !one.error && <Loading />}
      {m && (
        <>
          <Section title={m.subject || t('messages.noSubject')}>
            <KeyValue
              rows={[
                ['messages.recipient', m.to],
                ['messages.sender', m.from || m.sender],
                ['messages.status', <Badge status={m.status} />],
                ['messages.queueId', <code>{m.queueId}</code>],
                ['messages.bulkId', m.bulkId || '—'],
                ['messages.created', <Time iso={m.createdAt} />],
                ['messages.updated', <Time iso={m.updatedAt} />],
              ]}
            />
          </Section>
          <Section title={t('messages.events')}>
            <ol class="timeline">
              {m.events.map((e, i) => (
                <li key={i} class={`tl tl-${e.event}`}>
                  <div class="tl-head">
                    <Badge status={e.event} />
                    <Time iso={e.time} />
                    {e.attempt ? <span class="muted">{t('messages.attempt', { n: e.attempt })}</span> : null}
                  </div>
                  {(e.code || e.reply) && (
                    <div class="tl-body">
                      <code class="reply">{[e.code || '', e.enhanced, e.reply].filter(Boolean).join(' ')}</code>
                    </div>
                  )}
                  {e.mxHost && (
                    <div class="tl-meta muted">
                      {t('messages.mx')}: <code>{e.mxHost}</code> · {t('messages.tls')}: {e.tls ? t('common.yes') : t('common.no')}
                    </div>
                  )}
                </li>
              ))}
            </ol>
          </Section>
          <Section title={t('messages.webhooks')}>
            {m.webhooks.length === 0 ? (
              <Empty text={t('messages.noWebhooks')} />
            ) : (
              <div class="table-wrap">
                <table class="table">
                  <caption class="sr-only">{t('messages.webhooks')}</caption>
                  <thead>
                    <tr>
                      <th scope="col">{t('webhooks.kind')}</th>
                      <th scope="col">{t('webhooks.url')}</th>
                      <th scope="col">{t('webhooks.status')}</th>
                      <th scope="col" class="num">{t('webhooks.attempts')}</th>
                      <th scope="col">{t('webhooks.lastError')}</th>
                      <th scope="col">{t('webhooks.nextAttempt')}</th>
                    </tr>
                  </thead>
                  <tbody>
                    {m.webhooks.map((w, i) => (
                      <tr key={i}>
                        <td>{w.kind}</td>
                        <td class="break">{w.url}</td>
                        <td><Badge status={w.state} /></td>
                        <td class="num">{w.attempts}</td>
                        <td class="break">{w.lastError || '—'}</td>
                        <td class="nowrap"><Time iso={w.nextAttemptAt} /></td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
          </Section>
        </>
      )}
    </>
  );
}

export function MessagesPage() {
  const parts = route.value.path.split('/');
  if (parts[1]) return <Timeline id={decodeURIComponent(parts[1])} />;
  return (
    <>
      <PageHeader title={t('messages.title')} intro={t('messages.intro')} />
      <SearchForm key={route.value.query.toString()} />
      <Results />
    </>
  );
}
