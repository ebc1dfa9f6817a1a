// The harness under node:test rather than ava: run by harness.test.ts with `node --test`.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createHarness } from '../../../adapters/testing/index.ts';
import { Message, roomApp } from './room-app.ts';

test('a message reaches the page of its room, rendered for its viewer', async () => {
  const room = await roomApp();
  const harness = createHarness(room.push, room.app);
  try {
    const page = await harness.open<{ message: string }>('/rooms/1', { identity: 1 });
    await Message.query().insert({ roomId: 1, fromUserId: 2, text: 'hi', toUserId: null });
    assert.equal((await page.next()).data, '<li>2: hi</li>');
  } finally {
    await harness.close();
    await room.push.close();
    await room.knex.destroy();
  }
});
