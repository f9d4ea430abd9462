// Webhooks: where delivery reports and tracking events go (notify and tracking URLs, format,
// intermediate reports), the signing secret (set / not set; a new one shown once), the
// delivery history with response code and next retry, and "send a test report".
import { useState } from 'preact/hooks';
import { Time } from '../components/time';
import { t } from '../lib/i18n';
import { api, enc, errorText } from '../lib/api';
import { scoped } from '../lib/session';
import { useLoad } from '../lib/poll';
import type { Page, Settings, WebhookDelivery, WebhookTest } from '../api/types';
import { Badge, Button, Empty, ErrorNotice, Field, Loading, Notice, PageHeader, SecretOnce, Section } from '../components/ui';
import { toast } from '../components/toast';

function Config(props: { settings: Settings; reload: () => void }) {
  const s = props.settings;
  const [notify, setNotify] = useState(String(s.notify_url ?? ''));
  const [tracking, setTracking] = useState(String(s.tracking_url ?? ''));
  const [format, setFormat] = useState(String(s.report_format ?? 'json'));
  const [inter, setInter] = useState(s.intermediate_report === 'on' || s.intermediate_report === true);
  const [busy, setBusy] = useState('');
  const [error, setError] = useState('');
  const [secret, setSecret] = useState('');
  const [test, setTest] = useState<WebhookTest | null>(null);
  const save = async (e: Event) => {
    e.preventDefault();
    setBusy('save');
    setError('');
    try {
      await api.patch(scoped('/settings'), { notify_url: notify.trim(), tracking_url: tracking.trim(), report_format: format, intermediate_report: inter });
      toast(t('common.saved'));
      props.reload();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy('');
    }
  };
  const rotate = async () => {
    setBusy('secret');
    setError('');
    try {
      const r = await api.post<{ webhookSecret: string }>(scoped('/settings/webhook-secret'));
      setSecret(r.webhookSecret);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy('');
    }
  };
  const sendTest = async (kind: 'report' | 'tracking') => {
    setBusy('test-' + kind);
    setError('');
    setTest(null);
    try {
      setTest(await api.post<WebhookTest>(scoped('/webhooks/test'), { kind }));
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy('');
    }
  };
  return (
    <>
      <Section title={t('webhooks.configTitle')}>
        <form class="form" onSubmit={save}>
          <div class="grid grid-2">
            <Field label={t('webhooks.notifyUrl')} id="wh-notify" hint={t('webhooks.notifyHint')}>
              <input id="wh-notify" type="url" value={notify} placeholder="https://hooks.example.com/tern" onInput={(e) => setNotify(e.currentTarget.value)} aria-describedby="wh-notify-hint" />
            </Field>
            <Field label={t('webhooks.trackingUrl')} id="wh-tracking" hint={t('webhooks.trackingHint')}>
              <input id="wh-tracking" type="url" value={tracking} onInput={(e) => setTracking(e.currentTarget.value)} aria-describedby="wh-tracking-hint" />
            </Field>
            <Field label={t('webhooks.format')} id="wh-format">
              <select id="wh-format" value={format} onChange={(e) => setFormat(e.currentTarget.value)}>
                <option value="json">JSON</option>
                <option value="xml">XML</option>
              </select>
            </Field>
            <div class="field field-check">
              <input id="wh-inter" type="checkbox" checked={inter} onChange={(e) => setInter(e.currentTarget.checked)} />
              <label for="wh-inter">{t('webhooks.intermediate')}</label>
            </div>
          </div>
          <ErrorNotice error={error} />
          <div class="actions">
            <Button type="submit" variant="primary" busy={busy === 'save'}>
              {t('common.save')}
            </Button>
            <Button busy={busy === 'test-report'} onClick={() => void sendTest('report')}>
              {t('webhooks.testReport')}
            </Button>
            <Button busy={busy === 'test-tracking'} onClick={() => void sendTest('tracking')}>
              {t('webhooks.testTracking')}
            </Button>
          </div>
          <div aria-live="polite">
            {test && (
              <Notice tone={test.ok ? 'ok' : 'bad'}>
                {test.ok ? t('webhooks.testOk', { url: test.url, status: test.status }) : t('webhooks.testFailed', { url: test.url, reason: test.error || String(test.status) })}
              </Notice>
            )}
          </div>
        </form>
      </Section>
      <Section title={t('webhooks.secretTitle')} intro={t('webhooks.secretIntro')}>
        {secret ? (
          <SecretOnce label={t('webhooks.secret')} value={secret} onDone={() => { setSecret(''); props.reload(); }} />
        ) : (
          <div class="actions">
            <span>
              {t('webhooks.secretState')}: <Badge status={s.webhook_secret === 'set' ? 'ok' : 'pending'} label={s.webhook_secret === 'set' ? t('common.set') : t('common.notSet')} />
            </span>
            <Button busy={busy === 'secret'} onClick={() => void rotate()}>
              {s.webhook_secret === 'set' ? t('webhooks.rotate') : t('webhooks.generate')}
            </Button>
          </div>
        )}
      </Section>
    </>
  );
}

function Deliveries() {
  const list = useLoad(() => api.get<Page<WebhookDelivery>>(scoped('/webhooks/deliveries?limit=100')), [], 10000);
  const retry = async (id: string) => {
    try {
      await api.post(scoped(`/webhooks/deliveries/${enc(id)}/retry`));
      toast(t('webhooks.retried'));
      await list.reload();
    } catch (err) {
      toast(errorText(err), 'bad');
    }
  };
  return (
    <Section title={t('webhooks.historyTitle')}>
      {list.error && <Notice tone="warn">{list.error}</Notice>}
      {list.loading && !list.data && <Loading />}
      {list.data && list.data.items.length === 0 && <Empty text={t('webhooks.historyEmpty')} />}
      {list.data && list.data.items.length > 0 && (
        <div class="table-wrap">
          <table class="table">
            <caption class="sr-only">{t('webhooks.historyTitle')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('webhooks.created')}</th>
                <th scope="col">{t('webhooks.kind')}</th>
                <th scope="col">{t('webhooks.url')}</th>
                <th scope="col">{t('webhooks.status')}</th>
                <th scope="col" class="num">{t('webhooks.code')}</th>
                <th scope="col" class="num">{t('webhooks.attempts')}</th>
                <th scope="col">{t('webhooks.nextAttempt')}</th>
                <th scope="col"><span class="sr-only">{t('common.actions')}</span></th>
              </tr>
            </thead>
            <tbody>
              {list.data.items.map((d) => (
                <tr key={d.id}>
                  <td class="nowrap"><Time iso={d.createdAt} /></td>
                  <td>{d.kind}</td>
                  <td class="break">{d.url}</td>
                  <td>
                    <Badge status={d.status} />
                    {d.lastError && <div class="muted small">{d.lastError}</div>}
                  </td>
                  <td class="num">{d.lastCode || '—'}</td>
                  <td class="num">{d.attempts}</td>
                  <td class="nowrap">{d.status === 'pending' || d.status === 'failed' ? <Time iso={d.nextAttemptAt} /> : '—'}</td>
                  <td class="row-actions">
                    {d.status !== 'sent' && (
                      <Button class="btn-small" onClick={() => void retry(d.id)}>
                        {t('webhooks.retry')}
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

export function WebhooksPage() {
  const settings = useLoad(() => api.get<Settings>(scoped('/settings')), []);
  return (
    <>
      <PageHeader title={t('webhooks.title')} intro={t('webhooks.intro')} />
      {settings.error && <Notice tone="bad">{settings.error}</Notice>}
      {!settings.data && !settings.error && <Loading />}
      {settings.data && <Config settings={settings.data} reload={() => void settings.reload()} />}
      <Deliveries />
    </>
  );
}
