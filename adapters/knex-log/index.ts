// The change log kept in the app's own database through knex: it survives restarts, every push
// process on the database shares it, and the ORM adapter writes to it inside the app's own
// transactions (a transactional outbox). PostgreSQL and SQLite.

import createDebug from 'debug';
import type { Knex } from 'knex';
import type { ChangeLog, SinceResult } from '../../core/change-log.ts';
import { createTails } from '../../core/tail.ts';
import { PushError } from '../../core/errors.ts';
import { positiveInteger } from '../../core/memory-log.ts';
import type { Change, ChangeInput, Id, Op, Row } from '../../core/types.ts';
import { checkTable, defaultTable } from './migration.ts';

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
}

/** A change log in the app's database; `appendWithin()` appends inside the caller's transaction. */
export interface KnexLog extends ChangeLog {
  /**
   * Inserts change rows with `trx`: inside a transaction they commit or roll back with it, and
   * tail listeners see them once committed. With a plain knex, in a transaction of their own.
   */
  appendWithin(trx: Knex, changes: readonly ChangeInput[]): Promise<void>;
}

interface ChangeRow {
  readonly id: number | string;
  readonly model: string;
  readonly op: string;
  readonly pk: string;
  readonly after: string | null;
  readonly before: string | null;
  readonly at: number | string;
}

/** Where the log stands: every id up to `settled` has committed or never will; `allocated` is the newest id handed out. */
interface Frontier {
  readonly settled: number;
  readonly allocated: number;
}

/** What differs between PostgreSQL and SQLite. */
interface Dialect {
  /** Tells apart the tables (and notify settings) that knex may reach by one name. */
  readonly key: string;
  /** Inserts rows within `trx` and resolves with their ids, in input order. */
  insert(trx: Knex, rows: readonly Record<string, unknown>[]): Promise<number[]>;
  /** Reads how far the log has settled. Calls must not overlap. */
  frontier(settled: number): Promise<Frontier>;
  /** Calls `wake` when another connection appended; resolves with a function that stops. */
  listen(wake: () => void): Promise<() => Promise<void>>;
}

const cursorPattern = /^([a-z0-9]{1,16})\.([a-z0-9]{1,11})$/;
const rowsPerStatement = 500;
const rowsPerRead = 1_000;
// Advisory locks and NOTIFY channels are per database: keys and channels carry the table's oid,
// which tells apart tables of one name in several schemas. 'spsh' is the key's high half.
const lockClass = 0x73707368n;
const relistenMs = 1_000;

/**
 * Opens the change log kept in the app's database, in tables made by the shipped migration
 * (`serverpush/knex-log/migration`). Cursors look like `<epoch>.<id in base 36>`; the epoch is
 * made by the migration, so a recreated database answers old cursors with a refresh.
 *
 * @example
 * await knex.migrate.latest({ migrationSource: knexLogMigrations() });
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
  const dialectName: unknown = knex.client?.dialect;
  if (dialectName !== 'postgresql' && dialectName !== 'sqlite3') {
    throw new TypeError(`knexLog() works on PostgreSQL and SQLite, not ${String(dialectName)}`);
  }

  const epochRow: unknown = await knex(meta).first('epoch').catch((error: unknown) => {
    throw new Error(`knexLog(): cannot read ${meta}: did the migration run (knexLogMigrations())?`, { cause: error });
  });
  const epoch = (epochRow as { epoch?: unknown } | undefined)?.epoch;
  if (typeof epoch !== 'string' || !/^[a-z0-9]{1,16}$/.test(epoch)) {
    throw new Error(`knexLog(): ${meta} holds no epoch: did the migration run (knexLogMigrations())?`);
  }
  const dialect = dialectName === 'postgresql' ? await postgres(knex, table, notify) : sqlite(knex, table);

  const tails = createTails();
  let closed = false;
  // Every id up to the horizon is settled: trimming never passes the settled id.
  let frontier: Frontier = await dialect.frontier(await horizon());
  let frontierRead: Promise<Frontier> | undefined;
  let frontierNext: Promise<Frontier> | undefined;
  let position = frontier.settled; // the newest id handed to tail listeners
  let reading: Promise<void> | undefined;
  let readAgain = false;
  let trimming: Promise<void> | undefined;

  const cursorOf = (id: number) => `${epoch}.${id.toString(36)}`;

  // Mailboxes compare the same few cursors again and again: remember recent parses.
  const parsed = new Map<string, number | undefined>();
  function parse(cursor: string): number | undefined {
    if (parsed.has(cursor)) return parsed.get(cursor);
    const match = cursorPattern.exec(cursor);
    if (match === null) {
      throw new PushError('SERVERPUSH_ERR_BAD_CURSOR', `cursor ${JSON.stringify(cursor.slice(0, 40))} is malformed`);
    }
    const id = match[1] === epoch ? Number.parseInt(match[2] ?? '', 36) : undefined;
    if (parsed.size >= 4_096) parsed.clear();
    parsed.set(cursor, id);
    return id;
  }

  /**
   * Reads the frontier anew, one read at a time (the PostgreSQL one compares each read with the
   * last). A read that started before the call could miss an id handed out just before it, so
   * callers during a read share the next one.
   */
  function settle(): Promise<Frontier> {
    if (frontierRead === undefined) {
      frontierRead = dialect.frontier(frontier.settled).then(advance).finally(() => (frontierRead = undefined));
      return frontierRead;
    }
    frontierNext ??= frontierRead.catch(() => {}).then(() => {
      frontierNext = undefined;
      return settle();
    });
    return frontierNext;
  }

  function advance(read: Frontier): Frontier {
    frontier = { settled: Math.max(frontier.settled, read.settled), allocated: Math.max(frontier.allocated, read.allocated) };
    return frontier;
  }

  async function horizon(): Promise<number> {
    const row: unknown = await knex(meta).first('horizon');
    return Number((row as { horizon?: unknown } | undefined)?.horizon ?? 0);
  }

  function wake() {
    if (closed) return;
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
          const rows: ChangeRow[] = await knex(table).where('id', '>', from).andWhere('id', '<=', settled).orderBy('id').limit(rowsPerRead);
          if (rows.length > 0 && Number(rows[0]?.id) > from + 1 && (await horizon()) > from) {
            debug('fell behind the trimmed horizon: changes after %d were missed', from);
            tails.gap('history');
          }
          for (const row of rows) tails.deliver(changeOf(row));
          position = rows.length < rowsPerRead ? settled : Number(rows[rows.length - 1]?.id);
        }
      } catch (error) {
        if (!closed) debug('could not read new changes: %O', error);
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
    const byAge: unknown = await settledRows.clone().where('at', '<', Date.now() - maxAgeMs).max('id as id').first();
    const upTo = Math.max(Number((byCount as { id?: unknown } | undefined)?.id ?? 0), Number((byAge as { id?: unknown } | undefined)?.id ?? 0));
    if (upTo === 0) return;
    const deleted = await knex.transaction(async (trx): Promise<number> => {
      await trx(meta).where('horizon', '<', upTo).update({ horizon: upTo });
      return trx(table).where('id', '<=', upTo).delete();
    });
    if (deleted > 0) debug('trimmed %d change(s), up to %d', deleted, upTo);
  }

  function trimSoon() {
    trimming ??= trim()
      .catch((error: unknown) => void (closed || debug('could not trim: %O', error)))
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
      return inputs.map((input, index) => Object.freeze({ ...input, before: input.before ?? null, at, cursor: cursorOf(ids[index] ?? 0) }));
    },
    appendWithin: writer.appendWithin,
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
      // Up to the settled id only: a lower id may still commit, and tails deliver in id order.
      const rows: ChangeRow[] = id >= settled ? [] : await knex(table).where('id', '>', id).andWhere('id', '<=', settled).orderBy('id');
      // The horizon after the rows: a trim that deleted some of them has moved it by then.
      if (id < (await horizon())) return { ok: false, reason: 'history' };
      return { ok: true, changes: rows.map(changeOf) };
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
      await Promise.allSettled([unlisten(), reading, trimming, frontierRead, frontierNext]);
    },
  };
}

/** Appends change rows to one table; shared by the logs on one knex and table. */
interface Writer {
  /** Inserts with `trx` (in a transaction of its own if it is none) and resolves with the ids, in input order. */
  insert(trx: Knex, inputs: readonly ChangeInput[], at: number): Promise<number[]>;
  /** The `appendWithin()` of every log on the table: the ORM adapter appends once per function. */
  readonly appendWithin: (trx: Knex, inputs: readonly ChangeInput[]) => Promise<void>;
  /** Wakes the readers of the logs on the table when an append commits, not to wait for a poll. */
  readonly wakes: Set<() => void>;
}

const writers = new WeakMap<Knex, Map<string, Writer>>();

function writerOf(knex: Knex, dialect: Dialect): Writer {
  const byKey = writers.get(knex) ?? new Map<string, Writer>();
  writers.set(knex, byKey);
  const known = byKey.get(dialect.key);
  if (known !== undefined) return known;
  const wakes = new Set<() => void>();
  const wakeAll = () => {
    for (const wake of wakes) wake();
  };

  async function insertChunks(trx: Knex, inputs: readonly ChangeInput[], at: number): Promise<number[]> {
    const ids: number[] = [];
    for (let start = 0; start < inputs.length; start += rowsPerStatement) {
      const chunk = inputs.slice(start, start + rowsPerStatement).map((input) => ({
        model: input.model,
        op: input.op,
        pk: stringify(input.id),
        after: input.after === null ? null : stringify(input.after),
        before: input.before == null ? null : stringify(input.before),
        at,
      }));
      ids.push(...(await dialect.insert(trx, chunk)));
    }
    return ids;
  }

  async function insert(trx: Knex, inputs: readonly ChangeInput[], at: number): Promise<number[]> {
    if (inputs.length === 0) return [];
    if (!isTransaction(trx)) {
      const ids = await trx.transaction((own) => insertChunks(own, inputs, at));
      wakeAll();
      return ids;
    }
    const ids = await insertChunks(trx, inputs, at);
    let outermost = trx;
    while (outermost.parentTransaction !== undefined) outermost = outermost.parentTransaction;
    outermost.executionPromise.then(wakeAll, () => {});
    return ids;
  }

  const writer: Writer = { insert, wakes, appendWithin: async (trx, inputs) => void (await insert(trx, inputs, Date.now())) };
  byKey.set(dialect.key, writer);
  return writer;
}

function isTransaction(knex: Knex): knex is Knex.Transaction {
  return knex.isTransaction === true;
}

/** JSON text of a change's id or row; bigints become strings, as node-postgres returns them. */
function stringify(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) => (typeof item === 'bigint' ? item.toString() : item));
}

/** The part of knex's PostgreSQL client that opens a connection of our own for `LISTEN`. */
interface RawClient {
  acquireRawConnection(): Promise<unknown>;
  destroyRawConnection(connection: unknown): Promise<void>;
}

/** The part of a node-postgres client that `LISTEN` needs. */
interface ListenConnection {
  query(sql: string): Promise<unknown>;
  on(event: 'notification', listener: (message: { readonly channel: string }) => void): unknown;
  on(event: 'error' | 'end', listener: () => void): unknown;
}

/**
 * PostgreSQL. Sequence ids are handed out in one order and committed in another, so the log reads
 * only up to the settled id: every writer takes a shared advisory lock (keyed by the table) before
 * its ids, and holds it until its transaction ends. A reader reads the newest id handed out, then
 * which transactions hold the lock; once all of those have ended, every id up to it has committed
 * or rolled back (a gap, not a lost change). Transactions that write no changes never hold it.
 */
async function postgres(knex: Knex, table: string, notify: boolean): Promise<Dialect> {
  const found = await knex.raw(`select to_regclass(?)::oid::text as oid, pg_get_serial_sequence(?, 'id') as sequence`, [table, table]);
  const { oid, sequence } = (found.rows as Array<{ oid: string | null; sequence: string | null }>)[0] ?? {};
  if (typeof oid !== 'string' || typeof sequence !== 'string') {
    throw new Error(`knexLog(): the table ${table} is missing: did the migration run (knexLogMigrations())?`);
  }
  const lockKey = ((lockClass << 32n) | BigInt(oid)).toString();
  const channel = `${table}_${oid}`;
  // Each read of the newest id with the lock holders seen after it; settled once they are gone.
  let pending: Array<{ readonly upTo: number; readonly holders: ReadonlySet<string> }> = [];

  return {
    key: `${table}@${oid}${notify ? '' : ' quiet'}`,
    async insert(trx, rows) {
      await trx.raw('select pg_advisory_xact_lock_shared(?::bigint)', [lockKey]);
      const query = trx.with('rows', trx(table).insert(rows).returning('id')).from('rows').select(trx.raw('array_agg(id order by id) as ids'));
      // Sent when the transaction commits; the payload is the id alone (payloads are capped at 8,000 bytes).
      if (notify) query.select(trx.raw('pg_notify(?, max(id)::text)', [channel]));
      const result = (await query) as Array<{ ids: Array<string | number> }>;
      return (result[0]?.ids ?? []).map(Number);
    },
    async frontier(settled) {
      const last = await knex.raw('select coalesce(pg_sequence_last_value(?::regclass), 0) as last', [sequence]);
      const allocated = Number((last.rows as Array<{ last: string }>)[0]?.last ?? 0);
      if (allocated <= settled) {
        pending = [];
        return { settled, allocated };
      }
      const locks = await knex.raw(
        `select virtualtransaction as holder from pg_locks where locktype = 'advisory' and objsubid = 1
           and database = (select oid from pg_database where datname = current_database()) and classid = ?::oid and objid = ?::oid`,
        [lockClass.toString(), oid],
      );
      const holders = new Set((locks.rows as Array<{ holder: string }>).map((row) => row.holder));
      pending.push({ upTo: allocated, holders });
      // What each read still waits for: the holders still holding. Those sets grow from older reads
      // to newer ones (a holder holds from one moment to another), so of reads waiting for the same
      // set only the newest is kept: at most one read more than there are holders.
      let next = settled;
      const waiting: Array<{ readonly upTo: number; readonly holders: ReadonlySet<string> }> = [];
      for (const entry of pending) {
        const still = new Set([...entry.holders].filter((holder) => holders.has(holder)));
        if (still.size === 0) next = Math.max(next, entry.upTo);
        else waiting.push({ upTo: entry.upTo, holders: still });
      }
      pending = waiting.filter((entry, index) => entry.upTo > next && waiting[index + 1]?.holders.size !== entry.holders.size);
      return { settled: next, allocated };
    },
    async listen(wake) {
      if (!notify) return async () => {};
      const client = knex.client as RawClient;
      let connection: ListenConnection | undefined;
      let retry: NodeJS.Timeout | undefined;
      let stopped = false;

      async function connect() {
        let opened: ListenConnection | undefined;
        const connectionOnNotification = (message: { readonly channel: string }) => {
          if (message.channel === channel) wake();
        };
        const connectionOnEnd = () => {
          if (stopped || connection !== opened) return;
          debug('the LISTEN connection ended; polling until it is back');
          connection = undefined;
          retry = setTimeout(connect, relistenMs);
          retry.unref();
        };
        try {
          opened = (await client.acquireRawConnection()) as ListenConnection;
          opened.on('notification', connectionOnNotification);
          opened.on('error', connectionOnEnd);
          opened.on('end', connectionOnEnd);
          await opened.query(`listen "${channel}"`);
          connection = opened;
          if (stopped) await stop();
          else wake(); // whatever was appended while nobody listened
        } catch (error) {
          debug('could not LISTEN on %s; polling: %O', channel, error);
          if (opened !== undefined) await client.destroyRawConnection(opened).catch(() => {});
          if (!stopped) {
            retry = setTimeout(connect, relistenMs);
            retry.unref();
          }
        }
      }
      async function stop() {
        stopped = true;
        clearTimeout(retry);
        const open = connection;
        connection = undefined;
        if (open !== undefined) await client.destroyRawConnection(open).catch(() => {});
      }
      await connect();
      return stop;
    },
  };
}

/** SQLite: one writer at a time, so ids commit in order and the newest id is settled. */
function sqlite(knex: Knex, table: string): Dialect {
  return {
    key: table,
    async insert(trx, rows) {
      const inserted = (await trx(table).insert(rows).returning('id')) as Array<{ id: number }>;
      return inserted.map((row) => Number(row.id)).sort((a, b) => a - b);
    },
    async frontier() {
      // The autoincrement counter, which stays when every row was trimmed.
      const row: unknown = await knex('sqlite_sequence').where('name', table).first('seq');
      const last = Number((row as { seq?: unknown } | undefined)?.seq ?? 0);
      return { settled: last, allocated: last };
    },
    async listen() {
      return async () => {};
    },
  };
}
