// docs/testing.md: the example it embeds is the file it names, verbatim (and that file runs in npm test).

import { readFileSync } from 'node:fs';
import test from 'ava';

test('docs/testing.md examples are the files they claim to be, verbatim', (t) => {
  const doc = readFileSync(new URL('../../../docs/testing.md', import.meta.url), 'utf8');
  const examples = [...doc.matchAll(/<!-- example: (\S+) -->\n```ts\n([\s\S]*?)```/g)];
  t.true(examples.length > 0);
  for (const [, path, code] of examples) {
    t.is(code, readFileSync(new URL(`../../../${path}`, import.meta.url), 'utf8'), `${path} differs from its copy`);
  }
});
