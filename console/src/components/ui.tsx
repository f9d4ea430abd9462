// The console's own small components (no UI kit): page header, status badges, buttons with a
// busy state, copy buttons, notices, a field wrapper with a label, and the empty/error states.
// Every string comes from the catalog; every control has an accessible name.
import type { ComponentChildren, ComponentProps } from 'preact';
import { useState } from 'preact/hooks';
import { t, type MessageKey } from '../lib/i18n';
import { errorText } from '../lib/api';

export function PageHeader(props: { title: string; intro?: string; actions?: ComponentChildren }) {
  return (
    <header class="page-header">
      <div>
        <h1 id="page-title" tabIndex={-1}>
          {props.title}
        </h1>
        {props.intro && <p class="intro">{props.intro}</p>}
      </div>
      {props.actions && <div class="page-actions">{props.actions}</div>}
    </header>
  );
}

export function Section(props: { title: string; id?: string; children: ComponentChildren; actions?: ComponentChildren; intro?: string }) {
  const id = props.id ?? 'sec-' + props.title.toLowerCase().replace(/[^a-z0-9]+/g, '-');
  return (
    <section class="card" aria-labelledby={id}>
      <div class="card-head">
        <h2 id={id}>{props.title}</h2>
        {props.actions}
      </div>
      {props.intro && <p class="muted">{props.intro}</p>}
      {props.children}
    </section>
  );
}

const TONES: Record<string, string> = {
  ok: 'ok', delivered: 'ok', verified: 'ok', sent: 'ok', active: 'ok', opened: 'ok', clicked: 'ok',
  pending: 'warn', deferred: 'warn', accepted: 'info', queued: 'info', held: 'warn', suspended: 'bad',
  missing: 'bad', wrong: 'bad', bounced: 'bad', rejected: 'bad', expired: 'bad', failed: 'bad',
  given_up: 'bad', error: 'bad', revoked: 'muted', refused: 'bad', rate_limited: 'warn', unverified: 'warn',
};

export function Badge(props: { status: string; label?: string }) {
  const tone = TONES[props.status] ?? 'muted';
  return <span class={`badge badge-${tone}`}>{props.label ?? props.status.replace(/_/g, ' ')}</span>;
}

export function Button(
  props: ComponentProps<'button'> & {
    variant?: 'primary' | 'danger' | 'ghost' | 'default';
    busy?: boolean;
  },
) {
  const { variant = 'default', busy, children, class: cls, disabled, type, ...rest } = props;
  return (
    <button
      type={(type as 'button' | 'submit' | undefined) ?? 'button'}
      class={`btn btn-${variant} ${cls ?? ''}`}
      disabled={(disabled as boolean) || busy}
      aria-busy={busy ? 'true' : undefined}
      {...rest}
    >
      {children}
    </button>
  );
}

export function CopyButton(props: { text: string; label: string }) {
  const [done, setDone] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(props.text);
    } catch {
      // Clipboard refused (insecure context, permissions): select a hidden textarea instead.
      const ta = document.createElement('textarea');
      ta.value = props.text;
      ta.setAttribute('readonly', '');
      ta.className = 'offscreen';
      document.body.appendChild(ta);
      ta.select();
      document.execCommand('copy');
      ta.remove();
    }
    setDone(true);
    window.setTimeout(() => setDone(false), 1500);
  };
  return (
    <button type="button" class="btn btn-ghost btn-small copy" onClick={copy}>
      {done ? t('copy.done') : t('copy.button')}
      <span class="sr-only">{t('copy.what', { what: props.label })}</span>
    </button>
  );
}

export function Notice(props: { tone?: 'info' | 'ok' | 'warn' | 'bad'; children: ComponentChildren; role?: 'alert' | 'status' }) {
  return (
    <div class={`notice notice-${props.tone ?? 'info'}`} role={props.role ?? (props.tone === 'bad' ? 'alert' : 'status')}>
      {props.children}
    </div>
  );
}

export function ErrorNotice(props: { error: unknown }) {
  if (!props.error) return null;
  return <Notice tone="bad">{typeof props.error === 'string' ? props.error : errorText(props.error)}</Notice>;
}

export function Field(props: { label: string; id: string; hint?: string; children: ComponentChildren; wide?: boolean }) {
  return (
    <div class={`field ${props.wide ? 'field-wide' : ''}`}>
      <label for={props.id}>{props.label}</label>
      {props.children}
      {props.hint && (
        <small class="hint" id={props.id + '-hint'}>
          {props.hint}
        </small>
      )}
    </div>
  );
}

export function Empty(props: { text: string }) {
  return <p class="empty">{props.text}</p>;
}

export function Loading() {
  return (
    <p class="muted" role="status">
      {t('common.loading')}
    </p>
  );
}

export function KeyValue(props: { rows: [MessageKey | string, ComponentChildren][]; raw?: boolean }) {
  return (
    <dl class="kv">
      {props.rows.map(([k, v]) => (
        <div class="kv-row" key={k}>
          <dt>{props.raw ? k : t(k as MessageKey)}</dt>
          <dd>{v}</dd>
        </div>
      ))}
    </dl>
  );
}

// A secret shown once: the value, a copy button and the warning that it will not be shown again.
export function SecretOnce(props: { label: string; value: string; onDone: () => void }) {
  return (
    <div class="secret" role="region" aria-label={props.label}>
      <p class="secret-warn">
        <strong>{props.label}</strong> — {t('secret.once')}
      </p>
      <div class="secret-row">
        <code class="secret-value">{props.value}</code>
        <CopyButton text={props.value} label={props.label} />
      </div>
      <Button onClick={props.onDone}>{t('secret.done')}</Button>
    </div>
  );
}
