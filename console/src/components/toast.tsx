// Short confirmations ("Saved") in a polite live region, gone after a few seconds.
import { signal } from '@preact/signals';

const toasts = signal<{ id: number; text: string; tone: 'ok' | 'bad' }[]>([]);
let next = 1;
export function toast(text: string, tone: 'ok' | 'bad' = 'ok') {
  const id = next++;
  toasts.value = [...toasts.value, { id, text, tone }];
  window.setTimeout(() => (toasts.value = toasts.value.filter((x) => x.id !== id)), 4000);
}
export function ToastHost() {
  return (
    <div class="toasts" role="status" aria-live="polite">
      {toasts.value.map((x) => (
        <div key={x.id} class={`toast toast-${x.tone}`}>
          {x.text}
        </div>
      ))}
    </div>
  );
}
