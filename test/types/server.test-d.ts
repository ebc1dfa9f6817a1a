// Type tests of the server side, checked by `npm run typecheck` (never run): each claim has a case
// that compiles and one that must not (`@ts-expect-error`).

import Router from '@koa/router';
import { expectTypeOf } from 'expect-type';
import { Model, type ModelObject } from 'objection';
import { createPush, type KoaPush, type RenderState, type RenderUpdate } from '../../adapters/koa/index.ts';
import { objection } from '../../adapters/objection/index.ts';
import type { Fragment, PushContext, Row, RowOf, UpdateSpec } from '../../core/index.ts';

declare const secret: string;
const router = new Router();

class Todo extends Model {
  static override tableName = 'todos';
  declare id: number;
  declare ownerId: number;
  declare title: string;
  declare done: boolean;
  declare meta: { color: string } | null;
  get shout(): string {
    return this.title.toUpperCase();
  }
  summary(): string {
    return this.title;
  }
}
class User extends Model {
  static override tableName = 'users';
  declare id: number;
  declare username: string;
  declare teamId: number;
}
interface Viewer {
  readonly id: number;
  readonly teamId: number;
}
declare function loadViewer(id: number): Promise<Viewer | null>;

// createPush<Viewer, Identity>: Identity from identify's return, Viewer from authenticate's.
const push = createPush({
  secret,
  router,
  orm: objection(),
  identify: (ctx) => (typeof ctx.session === 'object' ? 7 : null),
  authenticate: async (identity) => {
    expectTypeOf(identity).toEqualTypeOf<number | null>();
    return identity === null ? null : loadViewer(identity);
  },
});
expectTypeOf(push).toExtend<KoaPush<Viewer | null, number | null>>();
push.updates('todos', (ctx) => {
  expectTypeOf(ctx.viewer).toEqualTypeOf<Viewer | null>();
  expectTypeOf(ctx.identity).toEqualTypeOf<number | null>();
  return [];
});
void push.disconnect({ identity: 7 });
// @ts-expect-error the identity is a number or null
void push.disconnect({ identity: 'seven' });

/** The viewer and identity types of a push instance, as its update functions see them. */
function contextOf<V, I>(instance: KoaPush<V, I>): PushContext<V, I> {
  let seen: PushContext<V, I> | undefined;
  instance.global((ctx) => {
    seen = ctx;
    return [];
  });
  return seen!;
}

// Explicit type arguments still work, and without authenticate the viewer is the identity.
const explicit = createPush<Viewer, number>({
  secret,
  router,
  identify: () => 1,
  authenticate: async () => ({ id: 1, teamId: 1 }),
});
expectTypeOf(contextOf(explicit)).toEqualTypeOf<PushContext<Viewer, number>>();
expectTypeOf(contextOf(createPush({ secret, router, identify: () => 'alice' }))).toEqualTypeOf<
  PushContext<string, string>
>();
expectTypeOf(contextOf(createPush({ secret, router }))).toEqualTypeOf<PushContext<null, null>>();
// @ts-expect-error authenticate's identity must be what identify returns
createPush({ secret, router, identify: () => 1, authenticate: (identity: string) => identity });

// identify must return the identity itself: a Promise is a type error (and a TypeError at run time).
// @ts-expect-error async identify
createPush({ secret, router, identify: async () => 1 });
// An identity typed `any` (koa-session's `ctx.session.userId`) is not refused as a possible Promise.
createPush({ secret, router, identify: (ctx) => ctx.session?.['userId'] ?? null });
// @ts-expect-error a Promise among the identities
createPush({ secret, router, identify: () => (Math.random() > 0.5 ? 1 : Promise.resolve(1)) });

// UpdateSpec is keyed to its model's columns: RowOf<M> is objection's ModelObject<M>.
expectTypeOf<RowOf<typeof Todo>>().toEqualTypeOf<ModelObject<Todo>>();
expectTypeOf<RowOf<'todos'>>().toEqualTypeOf<Row>();
push.updates('todos', ({ viewer }) =>
  viewer === null
    ? []
    : [
        { name: 'mine', model: Todo, params: { ownerId: viewer.id, done: false, 'meta.color': 'red' } },
        { name: 'team', model: User, params: { teamId: viewer.teamId }, data: { name: 'username' } },
        { name: 'raw', model: 'audit_log', params: { anything: 1 } },
        { name: 'check', model: Todo, params: (todo, ctx) => todo['ownerId'] === ctx.viewer?.id },
      ],
);
// Callbacks annotated with the model's row type are checked against the spec's model.
push.updates('todos', () => [
  { name: 'typed', model: Todo, params: (todo: ModelObject<Todo>) => todo.ownerId === 1 },
  { name: 'own', model: Todo, serializer: (_ctx, todo: ModelObject<Todo>) => todo.title },
]);
// A mistake in a spec is reported on the update function's return (the call's line).
// @ts-expect-error a misspelt column
push.updates('todos', () => [{ name: 'mine', model: Todo, params: { ownrId: 1 } }]);
// @ts-expect-error a column of another model, from an async update function
push.updates('todos', async () => [{ name: 'mine', model: User, params: { ownerId: 1 } }]);
// @ts-expect-error a misspelt column in one branch of a conditional
push.global(({ viewer }) => (viewer === null ? [] : [{ name: 'mine', model: Todo, params: { owner: viewer.id } }]));
// @ts-expect-error a dotted path into a JSON column's undeclared key
push.global(() => [{ name: 'mine', model: Todo, params: { 'meta.colour': 'red' } }]);
// @ts-expect-error a predicate typed for another model's rows
push.global(() => [{ name: 'mine', model: Todo, params: (user: ModelObject<User>) => user.teamId === 1 }]);
const typedSpec: UpdateSpec<Viewer, typeof Todo> = {
  name: 'mine',
  model: Todo,
  serializer: (ctx, todo) => `${todo.title} for ${ctx.viewer.id}`,
};
void typedSpec;
const badSpec: UpdateSpec<Viewer, typeof Todo> = {
  name: 'mine',
  model: Todo,
  // @ts-expect-error the row of a Todo spec has no username
  serializer: (_ctx, todo) => todo.username,
};
void badSpec;

// Fragments: typed row and viewer; the fragment of one model does not fit a spec of another.
const item = push.fragment('todo-item', Todo, (todo, viewer, ctx) => {
  expectTypeOf(todo).toEqualTypeOf<ModelObject<Todo>>();
  expectTypeOf(viewer).toEqualTypeOf<Viewer | null>();
  expectTypeOf(ctx).toEqualTypeOf<PushContext<Viewer | null>>();
  return viewer === null ? null : `<li>${todo.shout}</li>`;
});
expectTypeOf(item).toEqualTypeOf<Fragment<Viewer | null, ModelObject<Todo>>>();
push.updates('todos', () => [{ name: 'mine', model: Todo, serializer: item }]);
// @ts-expect-error a Todo fragment on a User spec
push.updates('todos', () => [{ name: 'users', model: User, serializer: item }]);
// @ts-expect-error a fragment returns HTML or null
push.fragment('counter', Todo, (todo) => todo.id);

// RenderState: typed by the push instance's Viewer, and by a model when given one.
router.get('todo-item', '/todos/:id', (ctx) => {
  const state = push.renderState(ctx);
  expectTypeOf(state).toEqualTypeOf<RenderState<Viewer | null> | undefined>();
  expectTypeOf(state!.update.context.viewer).toEqualTypeOf<Viewer | null>();
  expectTypeOf(state!.update.row).toEqualTypeOf<Row>();
  const todo = push.renderState(ctx, Todo)?.update.row;
  expectTypeOf(todo).toEqualTypeOf<ModelObject<Todo> | undefined>();
  // @ts-expect-error a Todo row has no username
  void todo?.username;
});

// ctx.state.serverpush is typed through Koa's DefaultState.
router.get('page', '/', (ctx) => {
  expectTypeOf(ctx.state.serverpush.tag()).toEqualTypeOf<string>();
  expectTypeOf(ctx.state.serverpush.token).toEqualTypeOf<string>();
  expectTypeOf(ctx.state.serverpush.update).toEqualTypeOf<RenderUpdate | undefined>();
  // @ts-expect-error no such member
  ctx.state.serverpush.tags();
});
