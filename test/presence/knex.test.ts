// The presence suite (./suite.ts) on the change log in the app's database: each push instance with
// a knexLog() of its own on the same table, as push processes sharing a database would be; on
// sqlite and, when reachable, PostgreSQL.

import { knexLog } from '../../adapters/knex-log/index.ts';
import { knexLogMigrations } from '../../adapters/knex-log/migration.ts';
import { testDatabases } from '../helpers/databases.ts';
import { presenceSuite } from './suite.ts';

for (const database of await testDatabases()) {
  presenceSuite(
    `knex log, ${database.dialect}`,
    async (t) => {
      const knex = await database.connect(t);
      await knex.migrate.latest({ migrationSource: knexLogMigrations() });
      return async () => {
        const log = await knexLog({ knex, pollIntervalMs: 20, onWarning: () => {} });
        t.teardown(() => log.close());
        return log;
      };
    },
    database.skip !== undefined,
  );
}
