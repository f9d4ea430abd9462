// The API's shapes as the console uses them. Schemas come from src/api/schema.d.ts, generated
// from Tern's /api/v1/openapi.json (npm run types; the browser suite fails on drift). Shapes the
// OpenAPI document does not describe yet are written here from docs/api.md.
import type { components } from './schema';

type S = components['schemas'];
// Tern always sends every property it documents (null where the schema says nullable).
type Req<T> = T extends (infer U)[]
  ? Req<U>[]
  : T extends object
    ? { [K in keyof T]-?: Req<Exclude<T[K], undefined>> }
    : T;

export type Account = Req<S['Account']> & { suspended?: boolean; suspendedReason?: string };
export type Credential = Req<S['Credential']>;
export type CreatedCredential = Req<S['CreatedCredential']>;
export type ApiKey = Req<S['ApiKey']>;
export type CreatedApiKey = Req<S['CreatedApiKey']>;
export type DomainSummary = Req<S['DomainSummary']>;
export type Domain = Req<S['Domain']>;
export type DnsRecord = Domain['records'][number];
export type Sender = Req<S['Sender']>;
export type Suppression = Req<S['Suppression']>;
export type TestEmailResult = Req<S['TestEmailResult']>;
export type Message = Req<S['Message']>;
export type MessageDetail = Req<S['MessageDetail']>;

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface CreatedAccount {
  account: Account;
  username: string;
  password: string;
}

export type Settings = Record<string, string | number | boolean | string[] | null>;

export interface Session {
  kind: 'operator' | 'account';
  account: { id: number; name: string } | null;
  csrf: string;
  idleExpiresAt: string;
  expiresAt: string;
}

export interface Listener {
  name: string;
  address: string;
  port: number;
  tls: 'starttls' | 'implicit' | 'none';
}

export interface Platform {
  hostname: string;
  version: string;
  listeners: Listener[];
  authMethods: string[];
  platformDomains: string[];
  platformRoute: { kind: string; host?: string; port?: number; security?: string };
  dkimZone: string;
  limits: Record<string, number>;
  publicUrl: string;
}

export interface StatPoint {
  t: string;
  accepted: number;
  delivered: number;
  deferred: number;
  bounced: number;
  expired: number;
  rejected: number;
  opened: number;
  clicked: number;
}
export interface Stats {
  step: 'hour' | 'day';
  series: StatPoint[];
  totals: Omit<StatPoint, 't'>;
  bounceRate: number;
}

export interface QueueGroup {
  key: string;
  messages: number;
  recipients: number;
  held: number;
  oldestAt: string | null;
  nextAttemptAt: string | null;
}

export interface WebhookDelivery {
  id: string;
  kind: string;
  url: string;
  status: string;
  attempts: number;
  lastCode: number;
  lastError: string;
  nextAttemptAt: string | null;
  createdAt: string;
  sentAt: string | null;
}

export interface WebhookTest {
  ok: boolean;
  status: number;
  error: string;
  url: string;
}

export interface CapturedSummary {
  id: string;
  messageId: string;
  from: string;
  to: string[];
  subject: string;
  capturedAt: string;
  size: number;
}
export interface Captured extends CapturedSummary {
  headers: { name: string; value: string }[];
  text: string;
  html: string;
}

export interface BulkResult {
  added: number;
  removed: number;
  invalid: string[];
}
