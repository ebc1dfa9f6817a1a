'use strict';
// The peer benchmark's serverpush configs, with this folder's server (see server.mjs for the one
// bound it raises) and the harness's own serverpush clients. Run from the harness's folder:
//   SERVERPUSH_DIR=<built checkout> node bench.js --extra-configs <checkout>/bench/peers/configs.cjs ...
const path = require('node:path');

const clients = path.resolve(process.env.BENCH_PEERS_DIR ?? process.cwd(), 'clients');
const config = (transport, client) => ({
  server: 'server.mjs',
  serverOptions: { transport },
  client: path.join(clients, client),
  clientOptions: {},
  notes: `serverpush on Koa, ${transport} only, in-memory log (bench/peers/server.mjs)`,
});

module.exports = {
  'serverpush-ws': config('websocket', 'serverpush-ws.mjs'),
  'serverpush-sse': config('sse', 'serverpush-sse.mjs'),
  'serverpush-longpoll': config('long-poll', 'serverpush-longpoll.mjs'),
  'serverpush-jsonp': config('jsonp', 'serverpush-jsonp.mjs'),
};
