// A process that runs migrateKnexLog() on the database its argument's knex config names, then
// prints the migrations it ran as JSON: several of them start at once in migration.test.ts.

import createKnex from 'knex';
import { migrateKnexLog } from '../../../adapters/knex-log/migration.ts';

const knex = createKnex(JSON.parse(process.argv[2] ?? '{}'));
try {
  console.log(JSON.stringify(await migrateKnexLog(knex)));
} finally {
  await knex.destroy();
}
