// `npm run demo`: the counter demo on sqlite. `npm run demo -- --split` runs the seed's shape: the
// app on PORT, the push endpoints on PUSH_PORT, no CORS, the app's origin proxying to the push port.

import { createDemo } from './app.ts';

const split = process.argv.includes('--split');
const port = Number(process.env['PORT'] ?? 3000);
const demo = await createDemo({ filename: process.env['DEMO_DB'] ?? 'demo.sqlite', split });
const { url, pushUrl } = await demo.listen({
  host: process.env['HOST'] ?? '127.0.0.1',
  port,
  pushPort: Number(process.env['PUSH_PORT'] ?? port + 1),
});
console.log(`serverpush counter demo: ${url}`);
console.log(`auth demo: ${url}todos (alice, bob or carol, password demo)`);
console.log(`metrics: ${url}metrics; the operator's view: ${url}operator (log in as alice)`);
if (pushUrl !== undefined) console.log(`push endpoints (split ports, no CORS): ${pushUrl}/serverpush`);

function stop() {
  void demo.close().then(() => process.exit(0));
}
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
