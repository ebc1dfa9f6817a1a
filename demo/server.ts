// `npm run demo`: the counter demo on sqlite, one process, long-poll. Honours PORT and HOST.

import { createDemo } from './app.ts';

const port = Number(process.env['PORT'] ?? 3000);
const host = process.env['HOST'] ?? '127.0.0.1';
const demo = await createDemo({ filename: process.env['DEMO_DB'] ?? 'demo.sqlite' });
const server = demo.app.listen(port, host, () => {
  console.log(`serverpush counter demo: http://${host === '0.0.0.0' ? 'localhost' : host}:${port}/`);
});

function stop() {
  server.close();
  server.closeAllConnections();
  void demo.close().then(() => process.exit(0));
}
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
