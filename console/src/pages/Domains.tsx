// Domains: add a sending domain, then its DNS records with copy buttons, what was expected and
// what DNS answered, the state of each, "check now", last checked, the temporary-DNS-error
// state, direct or delegated DKIM, and key rotation.
import { useState } from 'preact/hooks';
import { Time } from '../components/time';
import { t } from '../lib/i18n';
import { api, enc, errorText } from '../lib/api';
import { scoped } from '../lib/session';
import { useLoad } from '../lib/poll';
import { route, href, navigate } from '../lib/router';
import type { Domain, DomainSummary, Page } from '../api/types';
import { Badge, Button, CopyButton, Empty, ErrorNotice, Field, Loading, Notice, PageHeader, Section } from '../components/ui';
import { confirmTyped } from '../components/confirm';
import { toast } from '../components/toast';

function AddDomain() {
  const [name, setName] = useState('');
  const [dkim, setDkim] = useState('direct');
  const [ed, setEd] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const add = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      const d = await api.post<Domain>(scoped('/domains'), { domain: name.trim().toLowerCase(), dkim, ed25519: ed });
      navigate(`domains/${d.domain}`);
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  };
  return (
    <Section title={t('domains.addTitle')} intro={t('domains.addIntro')}>
      <form class="form" onSubmit={add}>
        <div class="grid">
          <Field label={t('domains.name')} id="domain-name">
            <input id="domain-name" required value={name} placeholder="example.com" onInput={(e) => setName(e.currentTarget.value)} />
          </Field>
          <Field label={t('domains.dkimMode')} id="domain-dkim" hint={t('domains.dkimHint')}>
            <select id="domain-dkim" value={dkim} onChange={(e) => setDkim(e.currentTarget.value)} aria-describedby="domain-dkim-hint">
              <option value="direct">{t('domains.direct')}</option>
              <option value="delegated">{t('domains.delegated')}</option>
            </select>
          </Field>
          <div class="field field-check">
            <input id="domain-ed" type="checkbox" checked={ed} onChange={(e) => setEd(e.currentTarget.checked)} />
            <label for="domain-ed">{t('domains.ed25519')}</label>
          </div>
        </div>
        <ErrorNotice error={error} />
        <div class="actions">
          <Button type="submit" variant="primary" busy={busy}>
            {t('domains.add')}
          </Button>
        </div>
      </form>
    </Section>
  );
}

function DomainList() {
  const list = useLoad(() => api.get<Page<DomainSummary>>(scoped('/domains?limit=1000')), [], 15000);
  return (
    <Section title={t('domains.listTitle')}>
      {list.error && <Notice tone="bad">{list.error}</Notice>}
      {list.loading && !list.data && <Loading />}
      {list.data && list.data.items.length === 0 && <Empty text={t('domains.empty')} />}
      {list.data && list.data.items.length > 0 && (
        <div class="table-wrap">
          <table class="table">
            <caption class="sr-only">{t('domains.listTitle')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('domains.name')}</th>
                <th scope="col">{t('domains.status')}</th>
                <th scope="col">{t('domains.dkimMode')}</th>
                <th scope="col">{t('domains.records')}</th>
                <th scope="col">{t('domains.checkedAt')}</th>
              </tr>
            </thead>
            <tbody>
              {list.data.items.map((d) => {
                const total = Object.keys(d.states ?? {}).length;
                return (
                  <tr key={d.domain}>
                    <td>
                      <a href={href(`domains/${d.domain}`)}>{d.domain}</a>
                    </td>
                    <td>{d.verified ? <Badge status="verified" /> : <Badge status="unverified" />}</td>
                    <td>{d.dkim}</td>
                    <td>{t('domains.recordsOk', { ok: d.recordsOk, total })}</td>
                    <td class="nowrap"><Time iso={d.checkedAt} /></td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </Section>
  );
}

function DomainDetail(props: { name: string }) {
  const one = useLoad(() => api.get<Domain>(scoped(`/domains/${enc(props.name)}`)), [props.name], 30000);
  const [fresh, setFresh] = useState<Domain | null>(null);
  const [busy, setBusy] = useState('');
  const [error, setError] = useState('');
  const d = fresh ?? one.data;
  const act = async (what: 'check' | 'rotate') => {
    if (what === 'rotate') {
      const ok = await confirmTyped({ title: t('domains.rotateTitle'), body: t('domains.rotateBody'), name: '', action: t('domains.rotate') });
      if (!ok) return;
    }
    setBusy(what);
    setError('');
    try {
      const r = await api.post<Domain>(scoped(`/domains/${enc(props.name)}/${what}`));
      setFresh(r);
      toast(what === 'check' ? t('domains.checked') : t('domains.rotated'));
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy('');
    }
  };
  const remove = async () => {
    const ok = await confirmTyped({ title: t('domains.deleteTitle'), body: t('domains.deleteBody'), name: props.name, action: t('common.delete') });
    if (!ok) return;
    try {
      await api.del(scoped(`/domains/${enc(props.name)}`));
      toast(t('domains.deleted'));
      navigate('domains');
    } catch (err) {
      setError(errorText(err));
    }
  };
  const allOk = d && d.records.every((r) => r.status === 'ok');
  return (
    <>
      <PageHeader
        title={props.name}
        intro={t('domains.detailIntro')}
        actions={
          <>
            <Button variant="primary" busy={busy === 'check'} onClick={() => void act('check')}>
              {t('domains.checkNow')}
            </Button>
            <Button busy={busy === 'rotate'} onClick={() => void act('rotate')}>
              {t('domains.rotate')}
            </Button>
            <Button variant="danger" onClick={() => void remove()}>
              {t('common.delete')}
            </Button>
          </>
        }
      />
      <p>
        <a href={href('domains')}>← {t('domains.back')}</a>
      </p>
      <ErrorNotice error={error || one.error} />
      {!d && !one.error && <Loading />}
      {d && (
        <>
          <div class="tiles">
            <div class="tile">
              <span class="tile-label">{t('domains.status')}</span>
              <span class="tile-value">{d.verified ? <Badge status="verified" /> : <Badge status="unverified" />}</span>
            </div>
            <div class="tile">
              <span class="tile-label">{t('domains.dkimMode')}</span>
              <span class="tile-value">{d.dkim === 'delegated' ? t('domains.delegated') : t('domains.direct')}</span>
            </div>
            <div class="tile">
              <span class="tile-label">{t('domains.selector')}</span>
              <span class="tile-value"><code>{d.activeSelector}</code>{d.rotationSelector ? ` → ${d.rotationSelector}` : ''}</span>
            </div>
            <div class="tile">
              <span class="tile-label">{t('domains.checkedAt')}</span>
              <span class="tile-value"><Time iso={d.checkedAt} /></span>
            </div>
          </div>
          {d.dnsError && <Notice tone="warn">{t('domains.dnsError')}</Notice>}
          {d.rotationSelector && <Notice tone="info">{t('domains.rotationPending', { selector: d.rotationSelector })}</Notice>}
          {allOk && <Notice tone="ok">{t('domains.allOk')}</Notice>}
          <Section title={t('domains.records')} intro={t('domains.recordsIntro')}>
            <ul class="records" aria-label={t('domains.records')}>
              {d.records.map((r) => (
                <li key={r.id} class={`record record-${r.status}`} data-record={r.id}>
                  <div class="record-head">
                    <span class="record-type">{r.type}</span>
                    <span class="record-purpose">{r.purpose}</span>
                    <Badge status={r.status} />
                  </div>
                  <div class="record-line">
                    <span class="record-label">{t('domains.recName')}</span>
                    <code class="break">{r.name}</code>
                    <CopyButton text={r.name} label={t('domains.copyName', { record: r.id })} />
                  </div>
                  <div class="record-line">
                    <span class="record-label">{t('domains.expected')}</span>
                    <code class="break" data-volatile={r.id === 'ownership' || r.id.startsWith('dkim') ? '' : undefined}>
                      {r.value}
                    </code>
                    <CopyButton text={r.value} label={t('domains.copyValue', { record: r.id })} />
                  </div>
                  {r.status !== 'ok' && r.status !== 'pending' && (
                    <div class="record-line">
                      <span class="record-label">{t('domains.found')}</span>
                      <code class="break">{r.found || t('domains.nothingFound')}</code>
                    </div>
                  )}
                </li>
              ))}
            </ul>
          </Section>
          {d.changes && d.changes.length > 0 && (
            <Section title={t('domains.changes')}>
              <ul>
                {d.changes.map((c, i) => (
                  <li key={i}>
                    {c.what}: {c.from} → {c.to}
                  </li>
                ))}
              </ul>
            </Section>
          )}
        </>
      )}
    </>
  );
}

export function DomainsPage() {
  const parts = route.value.path.split('/');
  if (parts[1]) return <DomainDetail name={decodeURIComponent(parts[1])} />;
  return (
    <>
      <PageHeader title={t('domains.title')} intro={t('domains.intro')} />
      <AddDomain />
      <DomainList />
    </>
  );
}
