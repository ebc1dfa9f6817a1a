// The chat's push behaviour, tested without a browser or a port: `npx ava`.
import { randomBytes } from 'node:crypto';
import test from 'ava';
import { createHarness } from 'serverpush/testing';
import { createChat, type RoomEvents } from './app.ts';
import { openDatabase } from './database.ts';

test('a private message reaches its two ends, and nobody else in the room', async (t) => {
  const knex = await openDatabase(':memory:');
  const { app, push } = createChat({ secret: randomBytes(32).toString('hex'), keys: ['test'] });
  const harness = createHarness(push, app);
  t.teardown(async () => {
    await harness.close();
    await push.close();
    await knex.destroy();
  });

  // Three browsers, each logged in, each with the room open.
  const [alice, bob, carol] = await Promise.all(
    ['alice', 'bob', 'carol'].map(async (name) => {
      const browser = harness.agent();
      await browser.request('/login', { form: { name } });
      return { browser, room: await browser.open<RoomEvents>('/rooms/1') };
    }),
  );

  await alice!.browser.request('/rooms/1/messages', { form: { text: 'psst', to: 'bob' } });
  const received = await bob!.room.next();
  t.is(received.effect, 'enter');
  t.is(received.data, `<li data-serverpush-id="${received.id}"><b>alice to you (private)</b>: psst</li>`);
  t.regex((await alice!.room.next()).data ?? '', /<b>you to bob \(private\)<\/b>: psst/);
  await carol!.room.nothing();

  await carol!.browser.request('/rooms/1/messages', { form: { text: 'hello all' } });
  for (const { room } of [alice!, bob!, carol!]) t.regex((await room.next()).data ?? '', /hello all/);
});
