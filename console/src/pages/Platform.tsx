// Platform health (operator): what /api/v1/platform says about this installation, and the
// main counters and gauges of /metrics (connections, queue, deliveries, webhooks), polled.
import { t, type MessageKey } from '../lib/i18n';
import { api } from '../lib/api';
import { useLoad } from '../lib/poll';
import { num } from '../lib/format';
import type { Platform } from '../api/types';
import { KeyValue, Loading, Notice, PageHeader, Section } from '../components/ui';

const METRICS: [string, MessageKey][] = [
  ['tern_smtp_connections_active', 'platform.m.smtpActive'],
  ['tern_http_connections_active', 'platform.m.httpActive'],
  ['tern_queue_messages', 'platform.m.queue'],
  ['tern_messages_accepted_total', 'platform.m.accepted'],
  ['tern_delivered_total', 'platform.m.delivered'],
  ['tern_deferred_total', 'platform.m.deferred'],
  ['tern_bounced_total', 'platform.m.bounced'],
  ['tern_webhook_backlog', 'platform.m.webhookBacklog'],
  ['tern_smtp_auth_failures_total', 'platform.m.authFailures'],
  ['tern_spool_quarantined_total', 'platform.m.quarantined'],
];

function parseMetrics(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const v = Number(match[3]);
    if (!Number.isFinite(v)) continue;
    m.set(match[1], (m.get(match[1]) ?? 0) + v);
  }
  return m;
}

export function PlatformPage() {
  const platform = useLoad(() => api.get<Platform>('/api/v1/platform'), []);
  const metrics = useLoad(async () => parseMetrics(await api.text('/metrics')), [], 5000);
  const health = useLoad(async () => (await api.text('/healthz')).trim(), [], 5000);
  const p = platform.data;
  return (
    <>
      <PageHeader title={t('platform.title')} intro={t('platform.intro')} />
      <div class="tiles">
        <div class={`tile tile-${health.data === 'ok' ? 'ok' : 'bad'}`}>
          <span class="tile-label">{t('platform.health')}</span>
          <span class="tile-value">{health.data === 'ok' ? t('platform.healthy') : health.error || '…'}</span>
        </div>
        {metrics.data &&
          METRICS.filter(([k]) => metrics.data!.has(k)).map(([k, label]) => (
            <div class="tile" key={k}>
              <span class="tile-label">{t(label)}</span>
              <span class="tile-value">{num(metrics.data!.get(k))}</span>
            </div>
          ))}
      </div>
      {metrics.error && <Notice tone="warn">{metrics.error}</Notice>}
      <Section title={t('platform.installation')}>
        {platform.error && <Notice tone="warn">{t('sending.platformUnavailable', { reason: platform.error })}</Notice>}
        {!p && !platform.error && <Loading />}
        {p && (
          <KeyValue
            rows={[
              ['platform.hostname', <code>{p.hostname}</code>],
              ['platform.version', p.version],
              ['platform.publicUrl', <code>{p.publicUrl}</code>],
              ['platform.listeners', <ul class="plain">{p.listeners.map((l) => <li key={l.name + l.port}><code>{l.address}:{l.port}</code> {l.name} ({l.tls})</li>)}</ul>],
              ['platform.route', [p.platformRoute.kind, p.platformRoute.host, p.platformRoute.port].filter(Boolean).join(' ')],
              ['platform.dkimZone', p.dkimZone || '—'],
              ['platform.domains', p.platformDomains.join(', ') || '—'],
              ['platform.limits', <ul class="plain">{Object.entries(p.limits).map(([k, v]) => <li key={k}>{k}: {num(v)}</li>)}</ul>],
            ]}
          />
        )}
      </Section>
    </>
  );
}
