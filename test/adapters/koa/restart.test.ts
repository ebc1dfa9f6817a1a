// gracefulShutdown() across a restart of real app processes: the browser client (in jsdom, over
// long-poll or SSE) connected to one process is served by the next, on the same port and change
// log, within about a second of the first being told to stop. The next process is loaded before
// the first stops, so what is measured is the shutdown and the client's way back, not the app's
// start-up.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import test, { type ExecutionContext } from 'ava';
import { EventSource } from 'eventsource';
import knexFactory from 'knex';
import { connect } from '../../../client/index.ts';
import { migrate } from '../../fixtures/publisher-models.ts';
import { createPage, pageGlobals } from '../../helpers/jsdom.ts';
import { secret } from '../../helpers/push.ts';

/** An app process of test/fixtures/restart-app.ts and the lines it prints. */
interface AppProcess {
  readonly child: ChildProcess;
  /** Resolves with the first line printed from now on that matches. */
  line(pattern: RegExp): Promise<RegExpExecArray>;
}

function start(t: ExecutionContext, db: string): AppProcess {
  const child = spawn(process.execPath, ['--import=tsx', 'test/fixtures/restart-app.ts'], {
    env: { ...process.env, DB: db, PUSH_SECRET: secret },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  t.teardown(() => void child.kill('SIGKILL'));
  const lines: string[] = [];
  const waiting = new Set<() => void>();
  createInterface({ input: child.stdout! }).on('line', (line) => {
    lines.push(line);
    for (const check of [...waiting]) check();
  });
  return {
    child,
    line: (pattern) =>
      new Promise((resolve, reject) => {
        const from = lines.length;
        const check = () => {
          for (const line of lines.slice(from)) {
            const match = pattern.exec(line);
            if (match === null) continue;
            waiting.delete(check);
            return resolve(match);
          }
        };
        waiting.add(check);
        child.once('exit', (code) => reject(new Error(`the app exited (${code}) before printing ${pattern}`)));
      }),
  };
}

async function listen(app: AppProcess, port: number): Promise<number> {
  const listening = app.line(/^listening (\d+)$/);
  app.child.stdin!.write(`listen ${port}\n`);
  return Number((await listening)[1]);
}

for (const transport of ['long-poll', 'sse'] as const) {
  test.serial(
    `gracefulShutdown() lets a ${transport} client reach the restarted app process within about a second`,
    async (t) => {
      t.timeout(60_000);
      const directory = mkdtempSync(join(tmpdir(), 'serverpush-restart-'));
      t.teardown(() => rmSync(directory, { recursive: true, force: true }));
      const db = join(directory, 'app.sqlite');
      const knex = knexFactory({ client: 'better-sqlite3', connection: { filename: db }, useNullAsDefault: true });
      await knex.raw('pragma journal_mode = WAL');
      await migrate(knex);
      await knex.destroy();

      const first = start(t, db);
      await first.line(/^ready$/);
      const port = await listen(first, 0);
      const origin = `http://127.0.0.1:${port}`;
      const html = await (await fetch(`${origin}/boards/1`)).text();
      const token = /data-token="([^"]+)"/.exec(html)![1]!;
      const window = createPage(t, { url: `${origin}/boards/1` });
      const client = connect({
        token,
        base: `${origin}/serverpush`,
        transports: [transport],
        share: false,
        globals: pageGlobals(window, { EventSource: EventSource as unknown as typeof globalThis.EventSource }),
      });
      t.teardown(() => client.close());
      const notes: Array<{ text: string; at: number }> = [];
      const heard = new Set<() => void>();
      client.on('note', (data) => {
        notes.push({ text: (data as { text: string }).text, at: performance.now() });
        for (const check of [...heard]) check();
      });
      const note = (text: string) =>
        new Promise<number>((resolve) => {
          const check = () => {
            const found = notes.find((seen) => seen.text === text);
            if (found === undefined) return;
            heard.delete(check);
            resolve(found.at);
          };
          heard.add(check);
          check();
        });
      const write = (text: string) => fetch(`${origin}/boards/1/notes?text=${text}`, { method: 'POST' });
      await write('before');
      await note('before');

      const second = start(t, db);
      await second.line(/^ready$/);
      const stopped = performance.now();
      const closed = first.line(/^closed (\w+)$/);
      first.child.kill('SIGTERM');
      t.is((await closed)[1], 'closed', 'everything closed within timeoutMs');
      await new Promise((resolve) => first.child.once('exit', resolve));
      const exited = performance.now();
      await listen(second, port);
      const listening = performance.now();
      t.is((await write('after')).status, 204);
      const heardAt = await note('after');

      const exitMs = Math.round(exited - stopped);
      const silenceMs = Math.round(heardAt - stopped);
      const backMs = Math.round(heardAt - listening);
      t.log(
        `${transport}: the first process exited ${exitMs} ms after SIGTERM; the client heard the next process ${backMs} ms after it listened, ${silenceMs} ms after SIGTERM`,
      );
      t.true(exitMs < 1_500, `exited ${exitMs} ms after SIGTERM`);
      t.true(silenceMs < 2_500, `heard the next process ${silenceMs} ms after SIGTERM`);
      t.deepEqual(
        notes.map(({ text }) => text),
        ['before', 'after'],
        'each note once, in order: the client resumed from its cursor',
      );
      t.is(client.state, 'connected');
    },
  );
}
