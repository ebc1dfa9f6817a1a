// The auth demo: log in as alice, bob or carol and keep to-dos, your own and your team's shared
// ones. Each item is re-rendered for each viewer who may see it, and reaches nobody else; the page
// shows who else of the team is viewing it (presence). Sessions are koa-session's, kept in the
// database; page tokens are bound to the session cookie.

import type Router from '@koa/router';
import type Koa from 'koa';
import createDebug from 'debug';
import { Model, type ModelObject } from 'objection';
import { randomBytes } from 'node:crypto';
import type { KoaPush, KoaPushOptions } from '../adapters/koa/index.ts';
import { pushable } from '../adapters/objection/index.ts';
import { PushError } from '../core/errors.ts';
import { verifyPassword } from './auth-migrations.ts';
import { sessionCookie, sessionStore } from './auth-session.ts';
import { loginPage, todoItem, todosPage, type TodoView, type UserView } from './auth-views.ts';

export { LoginSession, sessionCookie, sessionMiddleware, sessionStore } from './auth-session.ts';

const debug = createDebug('serverpush:demo-auth');

/** A user of the auth demo. Not pushable: nothing shows users live. */
export class User extends Model {
  static override tableName = 'users';
  declare id: number;
  declare username: string;
  declare passwordHash: string;
  declare teamId: number;
}

/** A to-do: owned by one user, in the owner's team, visible to the team when `shared`. */
export class Todo extends pushable(Model) {
  static override tableName = 'todos';
  declare id: number;
  declare ownerId: number;
  declare teamId: number;
  declare title: string;
  declare done: boolean | number;
  declare shared: boolean | number;
}

/** The viewer of a page, as `authenticate` rebuilds it on the push side: never the password hash. */
export type AuthViewer = UserView;

/** The push options the auth demo needs, to spread into `createPush()`. */
export const authPushOptions = {
  /** The identity signed into page tokens: the logged-in user's id, or `null`. */
  identify: (ctx: Koa.Context): number | null => userIdOf(ctx.session?.['userId']),
  /**
   * The push side's viewer: the user, reloaded; `null` when logged out or since deleted. A page
   * whose login session has ended (logged out, expired) is refused, even with its old cookie.
   */
  authenticate: async (
    identity: unknown,
    { binding }: { readonly binding: string | undefined },
  ): Promise<AuthViewer | null> => {
    const id = userIdOf(identity);
    if (id !== null && (binding === undefined || (await sessionStore.get(binding)) === undefined)) {
      throw new PushError('SERVERPUSH_ERR_BAD_TOKEN', 'the login session of this page has ended');
    }
    return id === null ? null : viewerOf(await User.query().findById(id));
  },
  /** Page tokens are bound to the session cookie: a token shown to alice is refused with bob's. */
  bindCookie: sessionCookie,
} satisfies Partial<KoaPushOptions<AuthViewer | null>>;

/** What `registerAuth()` uses of the push instance. */
export type AuthPush = Pick<
  KoaPush<AuthViewer | null>,
  'updates' | 'presence' | 'disconnect' | 'transports' | 'renderState'
>;

/** Options of `registerAuth()`. */
export interface AuthOptions {
  readonly router: Router;
  readonly push: AuthPush;
}

const maxTitleLength = 200;
const maxBodyBytes = 16_384;

/**
 * Registers the auth demo's routes and update functions: `/login`, `/logout`, the `todos` page,
 * its `todo-item` fragment and the JSON endpoints that change to-dos.
 *
 * @example
 * registerAuth({ router, push });
 */
export function registerAuth({ router, push }: AuthOptions): void {
  if (typeof router?.get !== 'function')
    throw new TypeError('registerAuth(): the `router` option must be a @koa/router instance');
  if (typeof push?.updates !== 'function')
    throw new TypeError('registerAuth(): the `push` option must be a push instance');

  router.get('login', '/login', async (ctx) => {
    if ((await sessionViewer(ctx)) !== null) return ctx.redirect('/todos');
    ctx.type = 'html';
    ctx.body = loginPage();
  });

  router.post('/login', async (ctx) => {
    const fields = await readFields(ctx);
    const username = typeof fields['username'] === 'string' ? fields['username'] : '';
    const password = typeof fields['password'] === 'string' ? fields['password'] : '';
    const user = username === '' ? undefined : await User.query().findOne({ username });
    // An unknown name costs a hash too, so the answer's timing does not tell which names exist.
    const valid = await verifyPassword(password, user?.passwordHash ?? dummyHash);
    if (user === undefined || !valid) {
      debug('failed login as %j', username.slice(0, 64));
      ctx.status = 400;
      ctx.type = 'html';
      ctx.body = loginPage('Wrong username or password.', username);
      return;
    }
    const previous = userIdOf(ctx.session?.['userId']);
    // Through the change log: the previous user's pages may be on another push process (split ports).
    if (previous !== null && previous !== user.id) await push.disconnect({ identity: previous });
    ctx.session!['userId'] = user.id;
    // A new key at login: a session key planted before it never becomes a logged-in one.
    await ctx.session!.regenerate();
    ctx.status = 303;
    ctx.redirect('/todos');
  });

  router.post('/logout', async (ctx) => {
    const userId = userIdOf(ctx.session?.['userId']);
    // Delete the session before the pages reload, so none of them renders logged in again.
    const key = ctx.session?.externalKey;
    if (key !== undefined) await sessionStore.destroy(key);
    ctx.session = null;
    // Through the change log, so pages held by a push process of its own (split ports) end too.
    if (userId !== null) await push.disconnect({ identity: userId });
    ctx.status = 303;
    ctx.redirect('/login');
  });

  router.get('todos', '/todos', async (ctx) => {
    const viewer = await sessionViewer(ctx);
    if (viewer === null) return ctx.redirect('/login');
    const todos = (
      await Todo.query().where('ownerId', viewer.id).orWhere({ teamId: viewer.teamId, shared: true }).orderBy('id')
    ).map(todoView);
    const team = await teamOf(viewer.teamId);
    const helper = ctx.state.serverpush;
    const forced = push.transports.find((transport) => transport.name === ctx.query['transport']);
    ctx.type = 'html';
    ctx.body = todosPage(
      viewer,
      todos.filter((todo) => todo.ownerId === viewer.id).map((todo) => todoItem(todo, viewer, team)),
      todos.filter((todo) => todo.shared && todo.teamId === viewer.teamId).map((todo) => todoItem(todo, viewer, team)),
      helper.tag(forced === undefined ? {} : { transports: [forced.name] }),
    );
  });

  // The one place an item's HTML comes from: fetched by a browser with its session, or re-rendered
  // on the push side for one viewer (no session there: the viewer is in the update's context).
  router.get('todo-item', '/todos/:id/fragment', async (ctx) => {
    const rendering = push.renderState(ctx, Todo);
    if (rendering !== undefined) {
      const { viewer } = rendering.update.context;
      const todo = todoView(rendering.update.row);
      // A viewer who may not see the row (it left their lists) gets no content, only the leave.
      ctx.body = viewer !== null && canSee(viewer, todo) ? todoItem(todo, viewer, await teamOf(todo.teamId)) : null;
      return;
    }
    const viewer = await sessionViewer(ctx);
    if (viewer === null) return fail(ctx, 401, 'log in first');
    const todo = await visibleTodo(ctx, viewer);
    if (todo === undefined) return;
    ctx.type = 'html';
    ctx.body = todoItem(todo, viewer, await teamOf(todo.teamId));
  });

  router.post('/todos', async (ctx) => {
    const viewer = await sessionViewer(ctx);
    if (viewer === null) return fail(ctx, 401, 'log in first');
    const fields = await readJson(ctx);
    if (fields === undefined) return;
    const title = titleOf(fields['title']);
    if (title === undefined) return fail(ctx, 400, `title must be a string of 1 to ${maxTitleLength} characters`);
    const todo = await Todo.query().insert({
      ownerId: viewer.id,
      teamId: viewer.teamId,
      title,
      done: false,
      shared: false,
    });
    ctx.status = 201;
    ctx.body = { id: todo.id };
  });

  router.post('/todos/:id', async (ctx) => {
    const viewer = await sessionViewer(ctx);
    if (viewer === null) return fail(ctx, 401, 'log in first');
    const fields = await readJson(ctx);
    if (fields === undefined) return;
    const todo = await ownTodo(ctx, viewer);
    if (todo === undefined) return;
    const patch: { title?: string; done?: boolean; shared?: boolean; ownerId?: number } = {};
    for (const [field, value] of Object.entries(fields)) {
      if (field === 'title') {
        const title = titleOf(value);
        if (title === undefined) return fail(ctx, 400, `title must be a string of 1 to ${maxTitleLength} characters`);
        patch.title = title;
      } else if (field === 'done' || field === 'shared') {
        if (typeof value !== 'boolean') return fail(ctx, 400, `${field} must be true or false`);
        patch[field] = value;
      } else if (field === 'ownerId') {
        const owner =
          typeof value === 'number' && Number.isSafeInteger(value) ? await User.query().findById(value) : undefined;
        // Only within the item's team: a to-do never moves to a team that could not see it before.
        if (owner?.teamId !== todo.teamId) return fail(ctx, 400, 'ownerId must be the id of a user of your team');
        patch.ownerId = owner.id;
      } else {
        return fail(
          ctx,
          400,
          `unknown field ${JSON.stringify(field).slice(0, 40)}; send title, done, shared or ownerId`,
        );
      }
    }
    if (Object.keys(patch).length === 0) return fail(ctx, 400, 'send at least one of title, done, shared, ownerId');
    await Todo.query().patch(patch).where('id', todo.id);
    ctx.status = 204;
  });

  router.post('/todos/:id/delete', async (ctx) => {
    const viewer = await sessionViewer(ctx);
    if (viewer === null) return fail(ctx, 401, 'log in first');
    if ((await readJson(ctx)) === undefined) return;
    const todo = await ownTodo(ctx, viewer);
    if (todo === undefined) return;
    await Todo.query().deleteById(todo.id);
    ctx.status = 204;
  });

  push.updates('todos', (ctx) => {
    const viewer = ctx.viewer;
    if (viewer === null) return [];
    return [
      { name: 'my-todo', model: Todo, params: { ownerId: viewer.id }, serializer: 'todo-item' },
      { name: 'team-todo', model: Todo, params: { teamId: viewer.teamId, shared: true }, serializer: 'todo-item' },
    ];
  });

  // Who else is viewing the team's list: the team's pages share a channel, one member per user, who
  // is shown by name only. Carol's team is another channel: she never sees alice's.
  push.presence('todos', ({ viewer }) =>
    viewer === null ? null : { channel: `team:${viewer.teamId}:todos`, data: { name: viewer.username } },
  );
}

// A hash of a random password, compared against when the username is unknown.
const dummyHash = `scrypt$${randomBytes(16).toString('base64url')}$${randomBytes(32).toString('base64url')}`;

function userIdOf(value: unknown): number | null {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0 ? value : null;
}

function viewerOf(user: User | undefined): AuthViewer | null {
  return user === undefined ? null : { id: user.id, username: user.username, teamId: user.teamId };
}

/** The logged-in user of a request, or `null`. */
export async function sessionViewer(ctx: Koa.Context): Promise<AuthViewer | null> {
  const id = userIdOf(ctx.session?.['userId']);
  return id === null ? null : viewerOf(await User.query().findById(id));
}

async function teamOf(teamId: number): Promise<UserView[]> {
  return (await User.query().where('teamId', teamId).orderBy('id')).map((user) => viewerOf(user)!);
}

/** Whether `viewer` may see the to-do: their own, or shared within their team. */
function canSee(viewer: AuthViewer, todo: TodoView): boolean {
  return todo.ownerId === viewer.id || (todo.shared && todo.teamId === viewer.teamId);
}

function todoView(todo: ModelObject<Todo>): TodoView {
  return {
    id: todo.id,
    ownerId: todo.ownerId,
    teamId: todo.teamId,
    title: todo.title,
    done: Boolean(todo.done),
    shared: Boolean(todo.shared),
  };
}

/** The to-do of `:id` if `viewer` may see it; else answers 404, so nobody learns what exists. */
async function visibleTodo(ctx: Koa.Context, viewer: AuthViewer): Promise<TodoView | undefined> {
  const id = Number(ctx.params['id']);
  const found = Number.isSafeInteger(id) ? await Todo.query().findById(id) : undefined;
  const todo = found === undefined ? undefined : todoView(found);
  if (todo !== undefined && canSee(viewer, todo)) return todo;
  fail(ctx, 404, 'no such to-do');
  return undefined;
}

/** The to-do of `:id` if `viewer` owns it; else answers 404 or 403. */
async function ownTodo(ctx: Koa.Context, viewer: AuthViewer): Promise<TodoView | undefined> {
  const todo = await visibleTodo(ctx, viewer);
  if (todo === undefined || todo.ownerId === viewer.id) return todo;
  fail(ctx, 403, 'only its owner can change a to-do');
  return undefined;
}

function titleOf(value: unknown): string | undefined {
  const title = typeof value === 'string' ? value.trim() : '';
  return title.length > 0 && title.length <= maxTitleLength ? title : undefined;
}

function fail(ctx: Koa.Context, status: number, message: string): void {
  debug('%s %s: %d %s', ctx.method, ctx.path, status, message);
  ctx.status = status;
  ctx.body = { error: { message } };
}

/** A JSON object body; anything else is answered 415 or 400 (a cross-site form cannot send JSON). */
async function readJson(ctx: Koa.Context): Promise<Record<string, unknown> | undefined> {
  if (!ctx.request.is('application/json')) return void fail(ctx, 415, 'send the fields as application/json');
  return readFields(ctx);
}

/** The fields of a JSON or urlencoded body of at most 16 KiB; a bad body is answered 4xx. */
async function readFields(ctx: Koa.Context): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBodyBytes) ctx.throw(413, `the body is over ${maxBodyBytes} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (ctx.request.is('application/x-www-form-urlencoded')) return Object.fromEntries(new URLSearchParams(text));
  if (!ctx.request.is('application/json')) ctx.throw(415, 'send a form or application/json');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    ctx.throw(400, 'the body is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    ctx.throw(400, 'the body must be a JSON object');
  return parsed as Record<string, unknown>;
}
