// Captured mail (route=sandbox): messages accepted, signed and logged like any other but kept
// instead of delivered. The list polls; one message shows its headers, text, and HTML in a
// sandboxed frame (the API serves that HTML under its own strict CSP, scripts off).
import { useState } from 'preact/hooks';
import { Time } from '../components/time';
import { t } from '../lib/i18n';
import { api, enc } from '../lib/api';
import { scoped } from '../lib/session';
import { useLoad } from '../lib/poll';
import { route, href } from '../lib/router';
import { bytes } from '../lib/format';
import type { Captured, CapturedSummary, Page } from '../api/types';
import { Empty, Loading, Notice, PageHeader, Section } from '../components/ui';

function CapturedOne(props: { id: string }) {
  const one = useLoad(() => api.get<Captured>(scoped(`/captured/${enc(props.id)}`)), [props.id]);
  const [tab, setTab] = useState<'html' | 'text' | 'headers'>('html');
  const m = one.data;
  const tabs = (['html', 'text', 'headers'] as const).filter((x) => x !== 'html' || (m && m.html));
  const active = tabs.includes(tab) ? tab : tabs[0];
  return (
    <>
      <p>
        <a href={href('captured')}>← {t('captured.back')}</a>
      </p>
      {one.error && <Notice tone="bad">{one.error}</Notice>}
      {!m && !one.error && <Loading />}
      {m && (
        <Section title={m.subject || t('captured.noSubject')}>
          <dl class="kv">
            <div class="kv-row"><dt>{t('captured.from')}</dt><dd>{m.from}</dd></div>
            <div class="kv-row"><dt>{t('captured.to')}</dt><dd>{m.to.join(', ')}</dd></div>
            <div class="kv-row"><dt>{t('captured.at')}</dt><dd><Time iso={m.capturedAt} /></dd></div>
            <div class="kv-row"><dt>{t('captured.size')}</dt><dd>{bytes(m.size)}</dd></div>
            {m.attachments.length > 0 && (
              <div class="kv-row">
                <dt>{t('captured.attachments')}</dt>
                <dd>
                  <ul class="plain">
                    {m.attachments.map((a, i) => (
                      <li key={i}>
                        {a.filename || t('captured.unnamed')} <span class="muted">({a.contentType}, {bytes(a.size)})</span>
                      </li>
                    ))}
                  </ul>
                </dd>
              </div>
            )}
          </dl>
          {m.truncated && <Notice tone="warn">{t('captured.truncated')}</Notice>}
          <div role="tablist" class="tabs" aria-label={t('captured.views')}>
            {tabs.map((x) => (
              <button
                key={x}
                role="tab"
                type="button"
                id={`tab-${x}`}
                aria-selected={active === x}
                aria-controls={`panel-${x}`}
                tabIndex={active === x ? 0 : -1}
                class="tab"
                onClick={() => setTab(x)}
                onKeyDown={(e) => {
                  const i = tabs.indexOf(active);
                  if (e.key === 'ArrowRight') setTab(tabs[(i + 1) % tabs.length]);
                  if (e.key === 'ArrowLeft') setTab(tabs[(i + tabs.length - 1) % tabs.length]);
                }}
              >
                {t(`captured.tab.${x}` as const)}
              </button>
            ))}
            <a class="btn btn-ghost btn-small" href={scoped(`/captured/${enc(m.id)}/raw`)} download={`${m.id}.eml`}>
              {t('captured.raw')}
            </a>
          </div>
          <div role="tabpanel" id={`panel-${active}`} aria-labelledby={`tab-${active}`} class="tabpanel">
            {active === 'html' && (
              <iframe
                class="mail-frame"
                title={t('captured.htmlFrame')}
                sandbox=""
                referrerpolicy="no-referrer"
                src={scoped(`/captured/${enc(m.id)}/html`)}
              />
            )}
            {active === 'text' && <pre class="mail-text">{m.text || t('captured.noText')}</pre>}
            {active === 'headers' && (
              <table class="table">
                <caption class="sr-only">{t('captured.tab.headers')}</caption>
                <tbody>
                  {m.headers.map((h, i) => (
                    <tr key={i}>
                      <th scope="row">{h.name}</th>
                      <td class="break">{h.value}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </div>
        </Section>
      )}
    </>
  );
}

export function CapturedPage() {
  const id = route.value.query.get('id');
  const list = useLoad(() => api.get<Page<CapturedSummary>>(scoped('/captured?limit=100')), [], 5000);
  if (id) return (<><PageHeader title={t('captured.title')} /><CapturedOne id={id} /></>);
  return (
    <>
      <PageHeader title={t('captured.title')} intro={t('captured.intro')} />
      {list.error && <Notice tone="warn">{list.error}</Notice>}
      {list.loading && !list.data && <Loading />}
      {list.data && list.data.items.length === 0 && <Empty text={t('captured.empty')} />}
      {list.data && list.data.items.length > 0 && (
        <div class="table-wrap">
          <table class="table">
            <caption class="sr-only">{t('captured.title')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('captured.subject')}</th>
                <th scope="col">{t('captured.from')}</th>
                <th scope="col">{t('captured.to')}</th>
                <th scope="col">{t('captured.at')}</th>
                <th scope="col" class="num">{t('captured.size')}</th>
              </tr>
            </thead>
            <tbody>
              {list.data.items.map((m) => (
                <tr key={m.id}>
                  <td>
                    <a href={href('captured', { id: m.id })}>{m.subject || t('captured.noSubject')}</a>
                  </td>
                  <td>{m.from}</td>
                  <td>{m.to.join(', ')}</td>
                  <td class="nowrap"><Time iso={m.capturedAt} /></td>
                  <td class="num">{bytes(m.size)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
