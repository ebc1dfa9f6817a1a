// What the docs' code blocks may use without declaring or importing it: the app around a snippet
// (its secret, router, Koa app, server, knex, push instance and models) and the imports every
// snippet would repeat. test/docs/code-blocks.test.ts imports from here every name a block uses and
// does not declare itself. Type-checked only, never run.

import type { Server } from 'node:http';
import type Router from '@koa/router';
import type { ExecutionContext } from 'ava';
import type Koa from 'koa';
import type { Knex } from 'knex';
import { Model } from 'objection';
import type { Publisher } from 'serverpush';
import type { KoaPush } from 'serverpush/koa';
import type { Harness } from 'serverpush/testing';
import { pushable } from 'serverpush/objection';

export { randomBytes } from 'node:crypto';
export * as http from 'node:http';
export { default as Router } from '@koa/router';
export { default as Koa } from 'koa';
export { Model } from 'objection';
export { createPublisher, memoryLog, PushError } from 'serverpush';
export { knexLog } from 'serverpush/knex-log';
export { metrics } from 'serverpush/metrics';
export type { PresenceMember } from 'serverpush';
export type { PushClient } from 'serverpush/client';
export { knexLogMigrations } from 'serverpush/knex-log/migration';
export { createPush, gracefulShutdown } from 'serverpush/koa';
export { objection, pushable } from 'serverpush/objection';
export { redisLog } from 'serverpush/redis';
export { createHarness } from 'serverpush/testing';
export { jsonp, longPoll, sse } from 'serverpush/transports';
export { websocket } from 'serverpush/transports/websocket';

/** A user; the viewer of the docs' push instance. */
export class User extends Model {
  static override tableName = 'users';
  declare id: number;
  declare username: string;
  declare teamId: number;
}

/** A to-do, owned by a user, shared with their team when `shared`. */
export class Todo extends pushable(Model) {
  static override tableName = 'todos';
  declare id: number;
  declare ownerId: number;
  declare teamId: number;
  declare title: string;
  declare done: boolean;
  declare shared: boolean;
  declare meta: { color: string } | null;
}

/** A chat message; `toId` makes it private to its two ends. */
export class Message extends pushable(Model) {
  static override tableName = 'messages';
  declare id: number;
  declare roomId: number;
  declare fromId: number;
  declare toId: number | null;
  declare text: string;
}

/** An order of a shop, open until shipped. */
export class Order extends pushable(Model) {
  static override tableName = 'orders';
  declare id: number;
  declare shopId: number;
  declare status: 'open' | 'shipped';
  declare total: number;
}

/** The demo's hit counter. */
export class Counter extends pushable(Model) {
  static override tableName = 'counters';
  declare id: number;
  declare hits: number;
}

export declare const secret: string;
export declare const router: Router;
export declare const app: Koa;
export declare const server: Server;
export declare const knex: Knex;
export declare const ordersKnex: Knex;
export declare const push: KoaPush<User | null, number | null>;
export declare const handler: Koa.Middleware;
export declare const logger: { error(...values: unknown[]): void };
export declare const sessions: { exists(key: string): Promise<boolean> };
export declare const t: ExecutionContext;
export declare const harness: Harness;
export declare const publisher: Publisher;
export declare function escapeHtml(text: string): string;
