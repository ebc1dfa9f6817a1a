// The framework-free core of serverpush: `import { createPush, memoryLog } from 'serverpush'`.

export { createPush, type Push, type PushOptions, type PageRequest, type RouteTable } from './push.ts';
export { memoryLog, type MemoryLogOptions } from './memory-log.ts';
export { createTails, type Tails } from './tail.ts';
export type { ChangeLog, SinceResult } from './change-log.ts';
export { createHub, type Hub, type Subscription } from './hub.ts';
export { PushError, isPushError, errorCodes, type ErrorCode } from './errors.ts';
export type { RouteRenderer } from './serialize.ts';
export type { PushEndpoint, PushRequest, PushResponse, Transport } from './transport.ts';
export type * from './types.ts';
