// The knex change log on PostgreSQL: reads only up to the id every writer has settled, and wakes
// readers with LISTEN/NOTIFY.

import createDebug from 'debug';
import type { Knex } from 'knex';
import type { Dialect } from './dialect.ts';

const debug = createDebug('serverpush:knex-log');

// Advisory locks and NOTIFY channels are per database: keys and channels carry the table's oid,
// which tells apart tables of one name in several schemas. 'spsh' is the key's high half.
const lockClass = 0x73707368n;
const relistenMs = 1_000;

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
 * The PostgreSQL dialect: reads only up to the id every writer has settled, told by a shared
 * advisory lock each writer holds until its transaction ends (docs/adapters.md#postgresql-commit-order).
 *
 * @example
 * const dialect = await postgres(knex, 'serverpush_changes', true);
 */
export async function postgres(knex: Knex, table: string, notify: boolean): Promise<Dialect> {
  const found = await knex.raw(`select to_regclass(?)::oid::text as oid, pg_get_serial_sequence(?, 'id') as sequence`, [
    table,
    table,
  ]);
  const { oid, sequence } = (found.rows as Array<{ oid: string | null; sequence: string | null }>)[0] ?? {};
  if (typeof oid !== 'string' || typeof sequence !== 'string') {
    throw new Error(`knexLog(): the table ${table} is missing: did the migration run (migrateKnexLog())?`);
  }
  const lockKey = ((lockClass << 32n) | BigInt(oid)).toString();
  const channel = `${table}_${oid}`;
  // Each read of the newest id with the lock holders seen after it; settled once they are gone.
  let pending: Array<{ readonly upTo: number; readonly holders: ReadonlySet<string> }> = [];

  return {
    key: `${table}@${oid}${notify ? '' : ' quiet'}`,
    async insert(trx, rows) {
      await trx.raw('select pg_advisory_xact_lock_shared(?::bigint)', [lockKey]);
      const query = trx
        .with('rows', trx(table).insert(rows).returning('id'))
        .from('rows')
        .select(trx.raw('array_agg(id order by id) as ids'));
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
      pending = waiting.filter(
        (entry, index) => entry.upTo > next && waiting[index + 1]?.holders.size !== entry.holders.size,
      );
      return { settled: next, allocated };
    },
    async reachable() {
      // Outside the pool, which prints every connection it fails to make.
      const client = knex.client as RawClient;
      await client.destroyRawConnection(await client.acquireRawConnection());
    },
    async listen(wake) {
      if (!notify) return async () => {};
      const client = knex.client as RawClient;
      let connection: ListenConnection | undefined;
      let retry: NodeJS.Timeout | undefined;
      let stopped = false;
      // Logged once per outage, not at every retry: the log's reader warns of the outage itself.
      let failing = false;

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
          if (failing) debug('listening on %s again', channel);
          failing = false;
          if (stopped) await stop();
          else wake(); // whatever was appended while nobody listened
        } catch (error) {
          if (!failing)
            debug('could not LISTEN on %s; polling until it can, every %d ms: %O', channel, relistenMs, error);
          failing = true;
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
