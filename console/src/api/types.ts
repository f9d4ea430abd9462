// The API's shapes as the console uses them, all from src/api/schema.d.ts, generated from
// Tern's /api/v1/openapi.json (npm run types; the browser suite fails on drift).
import type { components } from './schema';

type S = components['schemas'];
// Tern always sends every property it documents (null where the schema says nullable).
type Req<T> = T extends (infer U)[]
  ? Req<U>[]
  : T extends object
    ? { [K in keyof T]-?: Req<Exclude<T[K], undefined>> }
    : T;

export type Account = Req<S['Account']>;
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

export type CreatedAccount = Req<S['CreatedAccount']>;
export type Settings = Record<string, string | number | boolean | string[] | null>;
export type Session = Req<S['Session']>;
export type Platform = Req<S['Platform']>;
export type Listener = Platform['listeners'][number];
export type Stats = Req<S['Stats']>;
export type StatPoint = Stats['series'][number];
export type QueueGroups = Req<S['QueueGroups']>;
export type QueueGroup = QueueGroups['groups'][number];
export type QueueActionResult = Req<S['QueueActionResult']>;
export type WebhookDelivery = Req<S['WebhookDelivery']>;
export type WebhookTest = Req<S['WebhookTestResult']>;
export type CapturedSummary = Req<S['CapturedMessage']>;
export type Captured = Req<S['CapturedDetail']>;
export type BulkResult = Req<S['SuppressionBulkResult']>;

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}
