// The change log kept in the app's own database through knex: it survives restarts, every push
// process on the database shares it, and the ORM adapter writes to it inside the app's own
// transactions (a transactional outbox). PostgreSQL and SQLite.

/**
 * `knexLog()`: the change log in the app's database (PostgreSQL, SQLite).
 *
 * @module serverpush/knex-log
 */

import { setTimeout as delay } from 'node:timers/promises';
import createDebug from 'debug';
import type { Knex } from 'knex';
import type { ChangeLog, Outbox, SinceResult } from '../../core/change-log.ts';
import { epochPattern, sequenceCursors } from '../../core/cursor.ts';
import { PushError } from '../../core/errors.ts';
import { optionalFunction, positiveInteger } from '../../core/options.ts';
import { createOutage, createTails } from '../../core/tail.ts';
import type { Change, ChangeInput, Id, Op, Row } from '../../core/types.ts';
import type { ChangeRow, Frontier } from './dialect.ts';
import { databaseOf, startError } from './database.ts';
import { checkTable, defaultTable } from './migration.ts';
import { postgres } from './postgres.ts';
import { sqlite } from './sqlite.ts';
import { writerOf } from './writer.ts';

const debug = createDebug('serverpush:knex-log');

/** Options of `knexLog()`. */
export interface KnexLogOptions {
  /** The app's knex instance, PostgreSQL or SQLite. It is the app's: `close()` leaves it open. Required. */
  readonly knex: Knex;
  /** The change table the migration created. Default: `'serverpush_changes'`. */
  readonly table?: string;
  /** How often the table is read for new changes, in ms; on PostgreSQL a fallback for missed notifications. Default: `100`. */
  readonly pollIntervalMs?: number;
  /** How many changes are kept at most. Default: `100_000`. */
  readonly maxCount?: number;
  /** How long a change is kept at most, in ms. Default: `86_400_000` (a day). */
  readonly maxAgeMs?: number;
  /** How often old changes are deleted, in ms. Default: `60_000`. */
  readonly trimIntervalMs?: number;
  /** On PostgreSQL, whether appends `NOTIFY` and the log `LISTEN`s (off behind a transaction-mode pooler). Default: `true`. */
  readonly notify?: boolean;
  /**
   * Receives the one-line warnings: the database failed (once per outage) and is back (once).
   * Default: `console.warn`. `DEBUG=serverpush:knex-log` logs the full errors besides.
   */
  readonly onWarning?: ((message: string) => void) | undefined;
}

/** A change log in the app's database; its `outbox` appends inside the caller's transaction. */
export interface KnexLog extends ChangeLog {
  /** `appendWithin(trx, changes)` appends inside the caller's transaction; `database` is the log's knex. */
  readonly outbox: Outbox<Knex, Knex>;
}

/** Rows one query reads at most, when the tail reads on and when since() replays. */
const rowsPerRead = 1_000;
/** How often the database is tried while it fails, in ms. */
const probeMs = 1_000;

/**
 * Opens the change log kept in the app's database (PostgreSQL or SQLite), in the tables the shipped
 * migration (`serverpush/knex-log/migration`) makes. See docs/deployment.md#change-log-in-the-apps-database.
 *
 * @example
 * await migrateKnexLog(knex); // from serverpush/knex-log/migration
 * const push = createPush({ secret, router, orm: objection(), log: await knexLog({ knex }) });
 */
export async function knexLog(options: KnexLogOptions): Promise<KnexLog> {
  if (typeof options !== 'object' || options === null) throw new TypeError('knexLog() options must be an object');
  const { knex } = options;
  if (typeof knex !== 'function' || typeof knex.transaction !== 'function' || knex.isTransaction === true) {
    throw new TypeError('The `knex` option must be a knex instance, not a transaction');
  }
  const table = checkTable(options.table ?? defaultTable);
  const meta = `${table}_meta`;
  const pollIntervalMs = positiveInteger(options.pollIntervalMs ?? 100, 'pollIntervalMs');
  const maxCount = positiveInteger(options.maxCount ?? 100_000, 'maxCount');
  const maxAgeMs = positiveInteger(options.maxAgeMs ?? 86_400_000, 'maxAgeMs');
  const trimIntervalMs = positiveInteger(options.trimIntervalMs ?? 60_000, 'trimIntervalMs');
  const notify = options.notify ?? true;
  if (typeof notify !== 'boolean') throw new TypeError('The `notify` option must be a boolean');
  const warn = optionalFunction(options.onWarning, 'onWarning') ?? warnOnConsole;
  const dialectName: unknown = knex.client?.dialect;
  if (dialectName !== 'postgresql' && dialectName !== 'sqlite3') {
    throw new TypeError(`knexLog() works on PostgreSQL and SQLite, not ${String(dialectName)}`);
  }
  const database = databaseOf(knex);

  const epochRow: unknown = await knex(meta)
    .first('epoch')
    .catch((error: unknown) => {
      throw startError(error, knex, meta, database);
    });
  const epoch = (epochRow as { epoch?: unknown } | undefined)?.epoch;
  if (typeof epoch !== 'string' || !epochPattern.test(epoch)) {
    throw new Error(`knexLog(): ${meta} holds no epoch: did the migration run (migrateKnexLog())?`);
  }
  const dialect = dialectName === 'postgresql' ? await postgres(knex, table, notify) : sqlite(knex, table);

  const tails = createTails();
  // One warning when reading fails, one when it works again: not one per poll.
  const outage = createOutage({ service: database, meanwhile: 'reading changes resumes when it is back', warn, debug });
  let closed = false;
  // Every id up to the horizon is settled: trimming never passes the settled id.
  let frontier: Frontier = await dialect.frontier(await horizon());
  let frontierRead: Promise<Frontier> | undefined;
  let frontierNext: Promise<Frontier> | undefined;
  let position = frontier.settled; // the newest id handed to tail listeners
  let reading: Promise<void> | undefined;
  let probing: Promise<void> | undefined;
  const stopping = new AbortController();
  let readAgain = false;
  let trimming: Promise<void> | undefined;

  const cursors = sequenceCursors(epoch);
  const cursorOf = cursors.format;
  const parse = cursors.parse;

  /**
   * Reads the frontier anew, one read at a time (the PostgreSQL one compares each read with the
   * last). A read that started before the call could miss an id handed out just before it, so
   * callers during a read share the next one.
   */
  function settle(): Promise<Frontier> {
    if (frontierRead === undefined) {
      frontierRead = dialect
        .frontier(frontier.settled)
        .then(advance)
        .finally(() => (frontierRead = undefined));
      return frontierRead;
    }
    frontierNext ??= frontierRead
      .catch(() => {})
      .then(() => {
        frontierNext = undefined;
        return settle();
      });
    return frontierNext;
  }

  function advance(read: Frontier): Frontier {
    frontier = {
      settled: Math.max(frontier.settled, read.settled),
      allocated: Math.max(frontier.allocated, read.allocated),
    };
    return frontier;
  }

  async function horizon(): Promise<number> {
    const row: unknown = await knex(meta).first('horizon');
    return Number((row as { horizon?: unknown } | undefined)?.horizon ?? 0);
  }

  /**
   * Reads new changes, unless a read is under way (then once more after it). While the database
   * fails, reads wait for a probe that reaches it: knex prints every connection its pool fails to
   * make, and a poll every `pollIntervalMs` would print one each time.
   */
  function wake() {
    if (closed) return;
    if (outage.failing) {
      probeSoon();
      return;
    }
    readNow();
  }

  function readNow() {
    if (reading !== undefined) {
      readAgain = true;
      return;
    }
    reading = read().finally(() => (reading = undefined));
  }

  async function read(): Promise<void> {
    do {
      readAgain = false;
      try {
        const { settled } = await settle();
        while (position < settled && !closed) {
          const from = position;
          const rows: ChangeRow[] = await knex(table)
            .where('id', '>', from)
            .andWhere('id', '<=', settled)
            .orderBy('id')
            .limit(rowsPerRead);
          if (rows.length > 0 && Number(rows[0]?.id) > from + 1 && (await horizon()) > from) {
            debug('fell behind the trimmed horizon: changes after %d were missed', from);
            tails.gap('history');
          }
          for (const row of rows) tails.deliver(changeOf(row));
          position = rows.length < rowsPerRead ? settled : Number(rows[rows.length - 1]?.id);
        }
        outage.recover();
      } catch (error) {
        if (!closed) outage.fail(error);
        // Not again at once: the next wake probes the database first.
        readAgain = false;
      }
    } while (readAgain && !closed);
  }

  function changeOf(row: ChangeRow): Change {
    return Object.freeze({
      model: row.model,
      op: row.op as Op,
      id: JSON.parse(row.pk) as Id,
      after: row.after === null ? null : (JSON.parse(row.after) as Row),
      before: row.before === null ? null : (JSON.parse(row.before) as Row),
      at: Number(row.at),
      cursor: cursorOf(Number(row.id)),
    });
  }

  async function trim(): Promise<void> {
    const { settled } = await settle();
    // Only settled ids: a change that commits later below the horizon would be lost to tails.
    const settledRows = knex(table).where('id', '<=', settled);
    const byCount: unknown = await settledRows.clone().orderBy('id', 'desc').offset(maxCount).first('id');
    const byAge: unknown = await settledRows
      .clone()
      .where('at', '<', Date.now() - maxAgeMs)
      .max('id as id')
      .first();
    const upTo = Math.max(
      Number((byCount as { id?: unknown } | undefined)?.id ?? 0),
      Number((byAge as { id?: unknown } | undefined)?.id ?? 0),
    );
    if (upTo === 0) return;
    const deleted = await knex.transaction(async (trx): Promise<number> => {
      await trx(meta).where('horizon', '<', upTo).update({ horizon: upTo });
      return trx(table).where('id', '<=', upTo).delete();
    });
    if (deleted > 0) debug('trimmed %d change(s), up to %d', deleted, upTo);
  }

  /** While the database fails: a connection of its own, once a `probeMs`, then a read once one opens. */
  function probeSoon() {
    if (probing !== undefined || closed) return;
    probing = (async () => {
      await delay(probeMs, undefined, { ref: false, signal: stopping.signal });
      await dialect.reachable();
    })().then(
      () => {
        probing = undefined;
        if (!closed) readNow();
      },
      (error: unknown) => {
        probing = undefined;
        if (closed) return;
        outage.fail(error);
        probeSoon();
      },
    );
  }

  function trimSoon() {
    if (outage.failing) return;
    trimming ??= trim()
      .catch((error: unknown) => void (closed || outage.fail(error)))
      .finally(() => (trimming = undefined));
  }

  const poller = setInterval(wake, pollIntervalMs);
  poller.unref();
  const trimmer = setInterval(trimSoon, trimIntervalMs);
  trimmer.unref();
  const unlisten = await dialect.listen(wake);
  const writer = writerOf(knex, dialect);
  writer.wakes.add(wake);

  return {
    async append(inputs: readonly ChangeInput[]) {
      const at = Date.now();
      const ids = await writer.insert(knex, inputs, at);
      return inputs.map((input, index) =>
        Object.freeze({ ...input, before: input.before ?? null, at, cursor: cursorOf(ids[index] ?? 0) }),
      );
    },
    outbox: writer.outbox,
    async head() {
      return cursorOf((await settle()).settled);
    },
    async since(cursor: string): Promise<SinceResult> {
      const id = parse(cursor);
      if (id === undefined) return { ok: false, reason: 'epoch' };
      const { settled, allocated } = await settle();
      if (id > allocated) {
        throw new PushError('SERVERPUSH_ERR_BAD_CURSOR', `cursor ${JSON.stringify(cursor)} is ahead of the change log`);
      }
      // The horizon first: a cursor behind it costs one query, not a read of every row after it.
      if (id < (await horizon())) return { ok: false, reason: 'history' };
      // Up to the settled id only (a lower id may still commit, and tails deliver in id order), a
      // page of rows per query; each page starts past the last, so there are at most as many as
      // the ids to read fill.
      const changes: Change[] = [];
      const pages = Math.ceil(Math.max(0, settled - id) / rowsPerRead);
      for (let page = 0, from = id; page < pages && from < settled; page += 1) {
        const rows: ChangeRow[] = await knex(table)
          .where('id', '>', from)
          .andWhere('id', '<=', settled)
          .orderBy('id')
          .limit(rowsPerRead);
        for (const row of rows) changes.push(changeOf(row));
        if (rows.length < rowsPerRead) break;
        from = Number(rows[rows.length - 1]?.id);
      }
      // The horizon after the rows too: a trim that deleted some of them has moved it by then.
      if (id < (await horizon())) return { ok: false, reason: 'history' };
      return { ok: true, changes };
    },
    check(cursor: string) {
      return parse(cursor) !== undefined;
    },
    compare(a: string, b: string) {
      return (parse(a) ?? 0) - (parse(b) ?? 0);
    },
    tail: tails.tail,
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(poller);
      clearInterval(trimmer);
      writer.wakes.delete(wake);
      tails.clear();
      stopping.abort();
      // Not the probe: a connection attempt may hang until its timeout; it closes what it opens.
      await Promise.allSettled([unlisten(), reading, trimming, frontierRead, frontierNext]);
    },
  };
}

function warnOnConsole(message: string) {
  console.warn(message);
}
