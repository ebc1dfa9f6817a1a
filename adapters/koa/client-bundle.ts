// Serving the browser client bundle (`{prefix}/client.js`), built by `npm run build:client`.

import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import createDebug from 'debug';
import type Koa from 'koa';

const debug = createDebug('serverpush:koa');

let clientBundle: Promise<{ body: string; etag: string } | undefined> | undefined;

/** Answers `{prefix}/client.js` with the classic-script bundle, with an ETag. */
export async function serveClient(ctx: Koa.Context) {
  clientBundle ??= loadClientBundle();
  const bundle = await clientBundle;
  if (bundle === undefined) {
    clientBundle = undefined;
    ctx.status = 500;
    ctx.type = 'text/plain';
    ctx.body = 'serverpush: the client bundle is not built; run `npm run build:client`';
    return;
  }
  ctx.set('Cache-Control', 'no-cache');
  ctx.etag = bundle.etag;
  if (ctx.fresh) {
    ctx.status = 304;
    return;
  }
  ctx.type = 'application/javascript; charset=utf-8';
  ctx.body = bundle.body;
}

async function loadClientBundle() {
  // From a build the bundle is in dist/client, beside dist/adapters; from source, in <root>/dist/client.
  for (const candidate of ['../../client/serverpush.js', '../../dist/client/serverpush.js']) {
    try {
      const body = await readFile(new URL(candidate, import.meta.url), 'utf8');
      return { body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 16)}"` };
    } catch (error) {
      debug('no client bundle at %s: %s', candidate, (error as Error).message);
    }
  }
  return undefined;
}
