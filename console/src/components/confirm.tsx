// Confirmation of destructive actions: a modal <dialog> (focus kept inside, Escape cancels)
// whose confirm button is enabled only once the user has typed the exact name of the thing.
import { signal } from '@preact/signals';
import { useEffect, useRef, useState } from 'preact/hooks';
import { t } from '../lib/i18n';
import { Button } from './ui';

interface Ask {
  title: string;
  body: string;
  name: string; // to type; "" = a plain yes/no
  action: string;
  extra?: { label: string; value: string };
  resolve: (ok: { extra: string } | null) => void;
}
const asking = signal<Ask | null>(null);

// Resolves with {extra} when confirmed, null when cancelled.
export function confirmTyped(opts: Omit<Ask, 'resolve'>): Promise<{ extra: string } | null> {
  return new Promise((resolve) => (asking.value = { ...opts, resolve }));
}

export function ConfirmHost() {
  const a = asking.value;
  const ref = useRef<HTMLDialogElement>(null);
  const [typed, setTyped] = useState('');
  const [extra, setExtra] = useState('');
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (a && !d.open) {
      setTyped('');
      setExtra('');
      d.showModal();
    }
    if (!a && d.open) d.close();
  }, [a]);
  const finish = (ok: boolean) => {
    const cur = asking.value;
    asking.value = null;
    cur?.resolve(ok ? { extra } : null);
  };
  const ready = a ? (a.name === '' || typed === a.name) && (!a.extra || extra.trim() !== '') : false;
  return (
    <dialog ref={ref} class="dialog" aria-labelledby="confirm-title" onCancel={(e) => { e.preventDefault(); finish(false); }}>
      {a && (
        <form
          method="dialog"
          onSubmit={(e) => {
            e.preventDefault();
            if (ready) finish(true);
          }}
        >
          <h2 id="confirm-title">{a.title}</h2>
          <p>{a.body}</p>
          {a.extra && (
            <div class="field">
              <label for="confirm-extra">{a.extra.label}</label>
              <input id="confirm-extra" value={extra} onInput={(e) => setExtra(e.currentTarget.value)} autoFocus />
            </div>
          )}
          {a.name !== '' && (
            <div class="field">
              <label for="confirm-name">{t('confirm.type', { name: a.name })}</label>
              <input
                id="confirm-name"
                value={typed}
                autoComplete="off"
                spellcheck={false}
                onInput={(e) => setTyped(e.currentTarget.value)}
                autoFocus={!a.extra}
              />
            </div>
          )}
          <div class="dialog-actions">
            <Button onClick={() => finish(false)}>{t('common.cancel')}</Button>
            <Button type="submit" variant="danger" disabled={!ready}>
              {a.action}
            </Button>
          </div>
        </form>
      )}
    </dialog>
  );
}
