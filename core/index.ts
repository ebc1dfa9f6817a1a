// The framework-free core of serverpush: `import { createPush, memoryLog } from 'serverpush'`.

/**
 * The core without an HTTP framework: `createPush()`, `createPublisher()`, `memoryLog()`, `PushError`,
 * `errorCodes`, `transportNames`, and the types for change-log, ORM and transport authors.
 *
 * @module serverpush
 */

export {
  createPush,
  type IdentityFilter,
  type PageFilter,
  type PageRequest,
  type Push,
  type PushOptions,
} from './push.ts';
export { createPublisher, type Publisher, type PublisherOptions } from './publisher.ts';
export { memoryLog, type MemoryLogOptions } from './memory-log.ts';
export type { ChangeLog, Outbox, SinceResult } from './change-log.ts';
export type { ChangeSink, OrmAdapter } from './orm.ts';
export { PushError, isPushError, errorCodes, type ErrorCode, type PushErrorOptions } from './errors.ts';
export { createReport, type Report, type ReportOptions } from './report.ts';
export type {
  ConnectionKind,
  PageInfo,
  PushObserver,
  PushSnapshot,
  RouteCount,
  SerializerKind,
  WrittenBatch,
} from './observe.ts';
export type { RouteRenderer, RowView } from './serialize.ts';
export type { RouteTable, Authenticate } from './viewer.ts';
export type {
  Connection,
  ConnectionSink,
  PageBatch,
  PushEndpoint,
  PushRequest,
  PushResponse,
  Transport,
} from './transport.ts';
export type { PollOptions } from './push.ts';
export type { PresenceFunction, PresenceOptions, PresenceSpec } from './presence-spec.ts';
export type { Delivery } from './delivery.ts';
export { transportNames } from './types.ts';
export type * from './types.ts';
