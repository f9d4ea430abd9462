// The viewer's preferences, kept in localStorage: theme (system, light, dark: CSS variables
// switched by data-theme on <html>) and whether times show in UTC or local time.
import { effect, signal } from '@preact/signals';

export type Theme = 'system' | 'light' | 'dark';
export const theme = signal<Theme>((localStorage.getItem('tern.theme') as Theme) || 'system');
export const utc = signal<boolean>(localStorage.getItem('tern.utc') === '1');

effect(() => {
  localStorage.setItem('tern.theme', theme.value);
  if (theme.value === 'system') delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = theme.value;
});
effect(() => localStorage.setItem('tern.utc', utc.value ? '1' : '0'));
