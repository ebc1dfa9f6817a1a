// The chat: a room page whose list of messages updates itself, for each viewer with the messages
// that viewer may see: the public ones, and the private ones they wrote or received.
import Router from '@koa/router';
import Koa from 'koa';
import type { ModelObject } from 'objection';
import type { ChangeLog } from 'serverpush';
import { createPush } from 'serverpush/koa';
import { objection } from 'serverpush/objection';
import { Message, User } from './models.ts';

/** Who looks at a page, as the push side rebuilds it from the page token. */
export interface Viewer {
  readonly id: number;
  readonly name: string;
}

/** What a page token carries: the id of the logged-in user, or `null`. */
export type Identity = number | null;

/** The room page's events and their payloads: a message's HTML, for `page.next()` in tests. */
export interface RoomEvents {
  readonly message: string | null;
}

export interface ChatOptions {
  readonly secret: string; // signs page tokens: the same in every process
  readonly keys: string[]; // sign the login cookie (Koa's app.keys)
  readonly log?: ChangeLog; // default: in memory, seen by this process only
}

export function createChat({ secret, keys, log }: ChatOptions) {
  const router = new Router();
  const push = createPush<Viewer | null, Identity>({
    secret,
    router,
    orm: objection(),
    log,
    identify: (ctx) => userIdOf(ctx.cookies.get('user', { signed: true })),
    authenticate: async (id) => {
      const user = id === null ? undefined : await User.query().findById(id);
      return user === undefined ? null : { id: user.id, name: user.name };
    },
  });

  // A message as one viewer sees it, or null: not for this viewer.
  const line = push.fragment('line', Message, (message, viewer) =>
    viewer !== null && canSee(message, viewer) ? lineHtml(message, viewer) : null,
  );
  // The room page listens to the messages of its room, each rendered by `line` for its viewer.
  push.updates('room', ({ params }) => [
    { name: 'message', model: Message, params: { roomId: params['room']! }, serializer: line },
  ]);

  router.get('room', '/rooms/:room', async (ctx) => {
    const viewer = await viewerOf(ctx);
    if (viewer === null) return ctx.redirect('/login');
    const room = Number(ctx.params['room']);
    if (!Number.isSafeInteger(room)) return ctx.throw(404, 'no such room');
    const messages = await Message.query()
      .where('roomId', room)
      .where((query) => query.whereNull('toId').orWhere('toId', viewer.id).orWhere('fromId', viewer.id))
      .orderBy('id');
    const lines = await Promise.all(messages.map((message) => lineHtml(message, viewer)));
    ctx.type = 'html';
    ctx.body = roomPage(room, viewer, lines, ctx.state.serverpush.tag());
  });

  router.post('/rooms/:room/messages', async (ctx) => {
    const viewer = await viewerOf(ctx);
    if (viewer === null) return ctx.throw(401, 'log in first');
    const room = Number(ctx.params['room']);
    if (!Number.isSafeInteger(room)) return ctx.throw(404, 'no such room');
    const form = await readForm(ctx);
    const text = form.get('text')?.trim() ?? '';
    if (text.length === 0 || text.length > 500) return ctx.throw(400, 'the text must be 1 to 500 characters');
    const toName = form.get('to')?.trim() ?? '';
    const to = toName === '' ? undefined : await User.query().findOne({ name: toName });
    if (toName !== '' && to === undefined) return ctx.throw(400, `nobody is named ${toName}`);
    await Message.query().insert({ roomId: room, fromId: viewer.id, toId: to?.id ?? null, text });
    ctx.status = 303;
    ctx.redirect(`/rooms/${room}`);
  });

  // No passwords here: a name is enough. The auth demo shows a real login.
  router.get('login', '/login', (ctx) => {
    ctx.type = 'html';
    ctx.body = `<!doctype html><title>Log in</title>
<form method="post"><input name="name" required maxlength="40" placeholder="your name"> <button>Enter</button></form>`;
  });

  router.post('/login', async (ctx) => {
    const name = (await readForm(ctx)).get('name')?.trim() ?? '';
    if (!/^[\w-]{1,40}$/.test(name)) return ctx.throw(400, 'a name is 1 to 40 letters, digits, _ or -');
    const user = (await User.query().findOne({ name })) ?? (await User.query().insert({ name }));
    ctx.cookies.set('user', String(user.id), { signed: true, sameSite: 'lax' });
    ctx.status = 303;
    ctx.redirect('/rooms/1');
  });

  const app = new Koa();
  app.keys = keys;
  app.use(push.routes()).use(push.middleware()).use(router.routes()).use(router.allowedMethods());
  return { app, push, router };
}

/** Whether `viewer` may see `message`: a public one, or a private one they wrote or received. */
function canSee(message: ModelObject<Message>, viewer: Viewer): boolean {
  return message.toId === null || message.toId === viewer.id || message.fromId === viewer.id;
}

async function lineHtml(message: ModelObject<Message>, viewer: Viewer): Promise<string> {
  const from = await nameOf(message.fromId, viewer);
  const to = message.toId === null ? null : await nameOf(message.toId, viewer);
  const who = to === null ? from : `${from} to ${to} (private)`;
  return `<li data-serverpush-id="${message.id}"><b>${escapeHtml(who)}</b>: ${escapeHtml(message.text)}</li>`;
}

async function nameOf(userId: number, viewer: Viewer): Promise<string> {
  if (userId === viewer.id) return 'you';
  return (await User.query().findById(userId))?.name ?? 'someone';
}

function roomPage(room: number, viewer: Viewer, lines: string[], tag: string): string {
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Room ${room}</title>
  <style>
    .stopped { display: none; }
    html[data-serverpush-state="stopped"] .stopped { display: block; }
  </style>
</head>
<body>
  <p>Room ${room}, signed in as ${escapeHtml(viewer.name)}</p>
  <ul data-serverpush-list="message" data-serverpush-html>
    ${lines.join('\n    ')}
  </ul>
  <form method="post" action="/rooms/${room}/messages">
    <input name="text" required maxlength="500" placeholder="message">
    to <input name="to" maxlength="40" placeholder="everyone">
    <button>Send</button>
  </form>
  <p class="stopped">Updates stopped: reload the page to see new messages.</p>
  ${tag}
</body>
</html>`;
}

async function viewerOf(ctx: Koa.Context): Promise<Viewer | null> {
  const id = userIdOf(ctx.cookies.get('user', { signed: true }));
  const user = id === null ? undefined : await User.query().findById(id);
  return user === undefined ? null : { id: user.id, name: user.name };
}

function userIdOf(cookie: string | undefined): Identity {
  const id = Number(cookie);
  return Number.isSafeInteger(id) && id > 0 ? id : null;
}

async function readForm(ctx: Koa.Context): Promise<URLSearchParams> {
  if (!ctx.request.is('application/x-www-form-urlencoded')) return ctx.throw(415, 'send a form');
  ctx.req.setEncoding('utf8');
  let body = '';
  for await (const chunk of ctx.req) {
    body += chunk;
    if (body.length > 4_096) ctx.throw(413, 'the form is over 4 KiB');
  }
  return new URLSearchParams(body);
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}
