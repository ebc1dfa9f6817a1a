import test from 'ava';
import { PushError } from '../../core/errors.ts';
import { createPush } from '../../core/push.ts';
import { createReport } from '../../core/report.ts';
import type { PageClaims } from '../../core/token.ts';
import type { UpdateFunction } from '../../core/types.ts';
import { createViewers, type RouteTable } from '../../core/viewer.ts';
import { closing, page, secret } from '../helpers/push.ts';
import { captureConsole } from '../helpers/console.ts';

const routes: RouteTable = {
  match: (path) => (path.startsWith('/todos') ? { name: 'todos', params: {} } : undefined),
  render: async () => 'rendered',
  has: (name) => name === 'todos' || name === 'todo-item',
};

const claims = (path = '/todos'): PageClaims => ({
  page: 'p1',
  path,
  query: '',
  identity: null,
  languages: ['en'],
  cursor: 'c',
  expires: Date.now() + 60_000,
  binding: undefined,
});

/** A viewer registry whose reports are recorded, on a clock the test moves. */
function viewers(route: UpdateFunction | undefined, global?: UpdateFunction) {
  const reports: Array<[string, string]> = [];
  let now = 0;
  const made = createViewers({
    routes,
    authenticate: undefined,
    modelName: (model) => String(model),
    onError: (error, where) => reports.push([where, error instanceof Error ? error.message : String(error)]),
    report: createReport({ now: () => now }),
  });
  if (route !== undefined) made.add('todos', route);
  if (global !== undefined) made.addGlobal(global);
  return { viewers: made, reports, advance: (ms: number) => void (now += ms) };
}

const pageError = (subject: string) => ({
  instanceOf: PushError,
  code: 'SERVERPUSH_ERR_PAGE',
  message: `the update specs of ${subject} cannot be built; see the server log`,
});

test('createViewers() specsFor() fails a page whose update function throws with SERVERPUSH_ERR_PAGE (422), and reports the cause once a minute', async (t) => {
  const {
    viewers: registry,
    reports,
    advance,
  } = viewers(() => {
    throw new Error('the database is down');
  });
  for (let attempt = 0; attempt < 5; attempt += 1) {
    const error = await t.throwsAsync(registry.specsFor(claims(), undefined), pageError('route "todos"'));
    t.is(error?.status, 422);
  }
  t.deepEqual(reports, [['building the update specs of route "todos"', 'the database is down']]);
  advance(60_000);
  await t.throwsAsync(registry.specsFor(claims(), undefined), pageError('route "todos"'));
  t.deepEqual(reports[1], [
    'building the update specs of route "todos" (4 more of this kind since the previous line were not logged)',
    'the database is down',
  ]);
});

test('createViewers() specsFor() fails a page whose spec is malformed, reporting the TypeError that names spec and field, once per spec', async (t) => {
  const { viewers: registry, reports } = viewers(() => [
    { name: 'first', model: 'todos' },
    { name: 'second', model: 'todos', params: 'ownerId' as never },
  ]);
  await t.throwsAsync(registry.specsFor(claims(), undefined), pageError('route "todos"'));
  await t.throwsAsync(registry.specsFor(claims(), undefined), pageError('route "todos"'));
  t.deepEqual(reports, [
    [
      'building the update specs of route "todos"',
      'update spec "second" of route "todos": `params` must be an object or a function',
    ],
  ]);
});

test('createViewers() specsFor() fails a page whose update function returns no array, naming the function', async (t) => {
  const { viewers: registry, reports } = viewers(undefined, (() => undefined) as unknown as UpdateFunction);
  await t.throwsAsync(registry.specsFor(claims('/elsewhere'), undefined), pageError('the global update functions'));
  t.deepEqual(reports, [
    [
      'building the update specs of the global update functions',
      'a global update function returned undefined instead of an array of specs',
    ],
  ]);
});

test('createViewers() specsFor() fails a page whose route-name serializer names a route the router does not have', async (t) => {
  const { viewers: registry, reports } = viewers(() => [
    { name: 'item', model: 'todos', serializer: 'todo-item' },
    { name: 'items', model: 'todos', serializer: 'todo-itme' },
  ]);
  await t.throwsAsync(registry.specsFor(claims(), undefined), pageError('route "todos"'));
  t.deepEqual(reports, [
    [
      'building the update specs of route "todos"',
      'update spec "items" of route "todos": `serializer` names route "todo-itme", which the router does not have',
    ],
  ]);
});

test('createViewers() specsFor() names the spec whose model the ORM adapter refuses', async (t) => {
  const registry = createViewers({
    routes,
    authenticate: undefined,
    modelName: () => {
      throw new TypeError('modelName() expects an Objection model class or a model name, got null');
    },
    onError: (error) => reports.push((error as Error).message),
  });
  const reports: string[] = [];
  registry.add('todos', () => [{ name: 'item', model: null }]);
  await t.throwsAsync(registry.specsFor(claims(), undefined), pageError('route "todos"'));
  t.deepEqual(reports, [
    'update spec "item" of route "todos": `model`: modelName() expects an Objection model class or a model name, got null',
  ]);
});

test('createViewers() specsFor() passes a PushError an update function throws through as it is, unreported', async (t) => {
  const refusal = new PushError('SERVERPUSH_ERR_BAD_TOKEN', 'the login session of this page has ended');
  const { viewers: registry, reports } = viewers(() => {
    throw refusal;
  });
  t.is(await t.throwsAsync(registry.specsFor(claims(), undefined)), refusal);
  t.deepEqual(reports, []);
});

test.serial(
  'createPush() poll() rejects a page whose specs cannot be built with SERVERPUSH_ERR_PAGE, logged once',
  async (t) => {
    const logged = captureConsole(t, 'error');
    const push = closing(t, createPush({ secret, routes }));
    push.updates('todos', () => [{ name: 'refresh', model: 'todos' }]);
    for (let attempt = 0; attempt < 3; attempt += 1) {
      await t.throwsAsync(push.poll(await page(push, '/todos'), undefined, { waitMs: 0 }), {
        ...pageError('route "todos"'),
      });
    }
    t.deepEqual(
      logged.map(([line, error]) => [line, (error as Error).message]),
      [
        [
          'serverpush: internal error while building the update specs of route "todos":',
          'update spec "refresh" of route "todos": `name` must match /^[A-Za-z_][\\w.:-]{0,63}$/ and not be refresh, connection or error',
        ],
      ],
    );
  },
);
