// The chat on a port: `npx tsx server.ts`, then open http://127.0.0.1:3000/login in two browsers.
import { randomBytes } from 'node:crypto';
import { knexLog } from 'serverpush/knex-log';
import { gracefulShutdown } from 'serverpush/koa';
import { createChat } from './app.ts';
import { openDatabase } from './database.ts';

const knex = await openDatabase(process.env['CHAT_DB'] ?? 'chat.sqlite');
const { app, push } = createChat({
  // From your configuration in production: random ones log everybody out at each restart.
  secret: process.env['PUSH_SECRET'] ?? randomBytes(32).toString('hex'),
  keys: [process.env['COOKIE_KEY'] ?? randomBytes(32).toString('hex')],
  log: await knexLog({ knex }), // the change log in the chat's database: it survives restarts
});

const port = Number(process.env['PORT'] ?? 3000);
const server = app.listen(port, '127.0.0.1', () => console.log(`chat on http://127.0.0.1:${port}/login`));
const shutdown = gracefulShutdown(server, push);
const stop = async () => {
  const outcome = await shutdown(); // 'closed', or 'forced' when connections had to be cut
  await knex.destroy();
  process.exit(outcome === 'closed' ? 0 : 1);
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
