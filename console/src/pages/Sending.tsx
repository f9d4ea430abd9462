// Sending (seed 000's "Administration > SMTP Server"): how to connect to the platform, the
// route switch (platform, the account's own SMTP/SMTPS server, or the sandbox), the default
// Mail-From, CC and BCC, and a test email whose outcome, remote reply, host and TLS show inline.
import { useEffect, useState } from 'preact/hooks';
import { t, type MessageKey } from '../lib/i18n';
import { api, errorText, ApiError } from '../lib/api';
import { scoped } from '../lib/session';
import { useLoad } from '../lib/poll';
import type { Platform, Settings, TestEmailResult, Credential, Page } from '../api/types';
import { Badge, Button, CopyButton, ErrorNotice, Field, KeyValue, Loading, Notice, PageHeader, Section } from '../components/ui';
import { toast } from '../components/toast';
import { href } from '../lib/router';

function listText(v: unknown): string {
  if (Array.isArray(v)) return v.join(', ');
  return v == null ? '' : String(v);
}
function textList(s: string): string[] {
  return s
    .split(/[\s,;]+/)
    .map((x) => x.trim())
    .filter(Boolean);
}

function Connect() {
  const platform = useLoad(() => api.get<Platform>('/api/v1/platform'), []);
  const creds = useLoad(() => api.get<Page<Credential>>(scoped('/credentials')), []);
  const p = platform.data;
  const tlsLabel = (tls: string) => (tls === 'implicit' ? t('sending.tlsImplicit') : tls === 'starttls' ? t('sending.tlsStarttls') : t('sending.tlsNone'));
  return (
    <Section title={t('sending.connectTitle')} intro={t('sending.connectIntro')}>
      {platform.error && <Notice tone="warn">{t('sending.platformUnavailable', { reason: platform.error })}</Notice>}
      {!p && !platform.error && <Loading />}
      {p && (
        <>
          <KeyValue
            rows={[
              ['sending.host', <span class="mono-row"><code>{p.hostname}</code><CopyButton text={p.hostname} label={t('sending.host')} /></span>],
              [
                'sending.ports',
                <ul class="plain">
                  {p.listeners
                    .filter((l) => l.name !== 'http')
                    .map((l) => (
                      <li key={l.name + l.port}>
                        <code>{l.port}</code> — {l.name} ({tlsLabel(l.tls)})
                      </li>
                    ))}
                </ul>,
              ],
              ['sending.auth', p.authMethods.join(', ') || '—'],
              [
                'sending.username',
                creds.data && creds.data.items.length ? (
                  <span class="mono-row"><code>{creds.data.items[0].username}</code><CopyButton text={creds.data.items[0].username} label={t('sending.username')} /></span>
                ) : (
                  <a href={href('keys')}>{t('sending.createLogin')}</a>
                ),
              ],
              ['sending.platformDomains', p.platformDomains.length ? p.platformDomains.join(', ') : '—'],
            ]}
          />
        </>
      )}
    </Section>
  );
}

function RouteForm(props: { settings: Settings; onSaved: (s: Settings) => void }) {
  const s = props.settings;
  const [route, setRoute] = useState(String(s.route ?? 'platform'));
  const [host, setHost] = useState(String(s['relay.host'] ?? ''));
  const [port, setPort] = useState(s['relay.port'] ? String(s['relay.port']) : '');
  const [security, setSecurity] = useState(String(s['relay.security'] ?? 'starttls'));
  const [user, setUser] = useState(String(s['relay.username'] ?? ''));
  const [password, setPassword] = useState('');
  const [mailFrom, setMailFrom] = useState(String(s.mail_from ?? ''));
  const [cc, setCc] = useState(listText(s.cc));
  const [bcc, setBcc] = useState(listText(s.bcc));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const passwordSet = s['relay.password'] === 'set';

  const save = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    const patch: Settings = { route, mail_from: mailFrom.trim(), cc: textList(cc), bcc: textList(bcc) };
    if (route === 'custom') {
      patch['relay.host'] = host.trim();
      patch['relay.port'] = port.trim() ? Number(port) : null;
      patch['relay.security'] = security;
      patch['relay.username'] = user.trim();
      if (password) patch['relay.password'] = password;
    }
    try {
      const saved = await api.patch<Settings>(scoped('/settings'), patch);
      setPassword('');
      props.onSaved(saved);
      toast(t('common.saved'));
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Section title={t('sending.routeTitle')} intro={t('sending.routeIntro')}>
      <form onSubmit={save} class="form">
        <fieldset class="choices">
          <legend>{t('sending.routeLegend')}</legend>
          {(['platform', 'custom', 'sandbox'] as const).map((r) => (
            <label class={`choice ${route === r ? 'chosen' : ''}`} key={r}>
              <input type="radio" name="route" value={r} checked={route === r} onChange={() => setRoute(r)} />
              <span>
                <strong>{t(`sending.route.${r}`)}</strong>
                <small>{t(`sending.route.${r}.hint`)}</small>
              </span>
            </label>
          ))}
        </fieldset>
        {route === 'custom' && (
          <div class="grid">
            <Field label={t('sending.relayHost')} id="relay-host">
              <input id="relay-host" value={host} required onInput={(e) => setHost(e.currentTarget.value)} placeholder="smtp.example.com" />
            </Field>
            <Field label={t('sending.relayPort')} id="relay-port" hint={t('sending.relayPortHint')}>
              <input id="relay-port" inputMode="numeric" pattern="[0-9]*" value={port} onInput={(e) => setPort(e.currentTarget.value)} aria-describedby="relay-port-hint" />
            </Field>
            <Field label={t('sending.relaySecurity')} id="relay-security">
              <select id="relay-security" value={security} onChange={(e) => setSecurity(e.currentTarget.value)}>
                <option value="starttls">{t('sending.sec.starttls')}</option>
                <option value="tls">{t('sending.sec.tls')}</option>
                <option value="none">{t('sending.sec.none')}</option>
              </select>
            </Field>
            <Field label={t('sending.relayUser')} id="relay-user">
              <input id="relay-user" value={user} autoComplete="off" onInput={(e) => setUser(e.currentTarget.value)} />
            </Field>
            <Field label={t('sending.relayPassword')} id="relay-password" hint={passwordSet ? t('sending.passwordSet') : t('sending.passwordNotSet')}>
              <input id="relay-password" type="password" autoComplete="new-password" value={password} onInput={(e) => setPassword(e.currentTarget.value)} aria-describedby="relay-password-hint" />
            </Field>
          </div>
        )}
        <div class="grid">
          <Field label={t('sending.mailFrom')} id="mail-from" hint={t('sending.mailFromHint')}>
            <input id="mail-from" type="email" value={mailFrom} onInput={(e) => setMailFrom(e.currentTarget.value)} aria-describedby="mail-from-hint" />
          </Field>
          <Field label={t('sending.cc')} id="cc" hint={t('sending.listHint')}>
            <input id="cc" value={cc} onInput={(e) => setCc(e.currentTarget.value)} aria-describedby="cc-hint" />
          </Field>
          <Field label={t('sending.bcc')} id="bcc" hint={t('sending.listHint')}>
            <input id="bcc" value={bcc} onInput={(e) => setBcc(e.currentTarget.value)} aria-describedby="bcc-hint" />
          </Field>
        </div>
        <ErrorNotice error={error} />
        <div class="actions">
          <Button type="submit" variant="primary" busy={busy}>
            {t('common.save')}
          </Button>
        </div>
      </form>
    </Section>
  );
}

function TestEmail(props: { settings: Settings }) {
  const [to, setTo] = useState('');
  const [from, setFrom] = useState(String(props.settings.mail_from ?? ''));
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<TestEmailResult | null>(null);
  const [error, setError] = useState('');
  useEffect(() => setFrom(String(props.settings.mail_from ?? '')), [props.settings.mail_from]);
  const send = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    setResult(null);
    try {
      setResult(await api.post<TestEmailResult>(scoped('/settings/test-email'), { to: to.trim(), ...(from.trim() ? { from: from.trim() } : {}) }));
    } catch (err) {
      setError(err instanceof ApiError && err.status === 429 ? t('sending.testLimited', { reason: err.message }) : errorText(err));
    } finally {
      setBusy(false);
    }
  };
  const tone = result ? (result.outcome === 'delivered' ? 'ok' : result.outcome === 'deferred' ? 'warn' : 'bad') : 'info';
  return (
    <Section title={t('sending.testTitle')} intro={t('sending.testIntro')}>
      <form onSubmit={send} class="form">
        <div class="grid">
          <Field label={t('sending.testTo')} id="test-to">
            <input id="test-to" type="email" required value={to} onInput={(e) => setTo(e.currentTarget.value)} />
          </Field>
          <Field label={t('sending.testFrom')} id="test-from" hint={t('sending.testFromHint')}>
            <input id="test-from" type="email" value={from} onInput={(e) => setFrom(e.currentTarget.value)} aria-describedby="test-from-hint" />
          </Field>
        </div>
        <div class="actions">
          <Button type="submit" variant="primary" busy={busy}>
            {busy ? t('sending.testSending') : t('sending.testSend')}
          </Button>
        </div>
      </form>
      <div aria-live="polite" class="test-result-area">
        {error && <Notice tone="bad">{error}</Notice>}
        {result && (
          <div class={`test-result tone-${tone}`} data-testid="test-result">
            <div class="test-result-head">
              <Badge status={result.outcome} />
              <span>
                {result.outcome !== 'delivered' && !result.code ? t('sending.outcome.noAnswer') : t(`sending.outcome.${result.outcome}` as MessageKey)}
              </span>
            </div>
            <KeyValue
              rows={[
                ['sending.remoteReply', <code class="reply">{[result.code || '', result.enhanced, result.reply].filter(Boolean).join(' ')}</code>],
                ['sending.remoteHost', result.host ? <code>{result.host}</code> : '—'],
                ['sending.tls', result.tls ? t('common.yes') : t('common.no')],
                ['sending.route', result.route],
              ]}
            />
          </div>
        )}
      </div>
    </Section>
  );
}

export function SendingPage() {
  const settings = useLoad(() => api.get<Settings>(scoped('/settings')), []);
  const [current, setCurrent] = useState<Settings | null>(null);
  const s = current ?? settings.data;
  return (
    <>
      <PageHeader title={t('sending.title')} intro={t('sending.intro')} />
      <Connect />
      {settings.error && <Notice tone="bad">{settings.error}</Notice>}
      {!s && !settings.error && <Loading />}
      {s && (
        <>
          <RouteForm settings={s} onSaved={setCurrent} />
          <TestEmail settings={s} />
        </>
      )}
    </>
  );
}
