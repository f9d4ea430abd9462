// The message catalog: every string the console shows goes through t(). English is the only
// catalog so far; a key missing from it is a type error.
import { en } from '../i18n/en';

export type MessageKey = keyof typeof en;

export function t(key: MessageKey, params?: Record<string, string | number>): string {
  let s: string = en[key] ?? key;
  if (params) for (const [k, v] of Object.entries(params)) s = s.split(`{${k}}`).join(String(v));
  return s;
}
