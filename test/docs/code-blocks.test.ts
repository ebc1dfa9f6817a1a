// Every TypeScript block of the docs compiles under the repo's strict tsconfig (test/docs/blocks.ts),
// every block that names a file is that file verbatim, and the blocks left unchecked are few and say why.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { codeBlocks, docFiles, isTypeScript, repoRoot, typeCheck } from './blocks.ts';

const blocks = docFiles().flatMap(codeBlocks);

test('every TypeScript block of README.md and docs/**/*.md type-checks under the strict tsconfig', (t) => {
  const checked = blocks.filter(
    (block) => isTypeScript(block) && block.example === undefined && block.unchecked === undefined,
  );
  t.true(checked.length > 60, `only ${checked.length} blocks found: is the extraction broken?`);
  const errors = typeCheck(checked);
  t.deepEqual(errors, [], `\n${errors.join('\n')}`);
  t.log(`${checked.length} blocks type-checked`);
});

test('every block marked <!-- example: path --> is that file, verbatim', (t) => {
  const examples = blocks.filter((block) => block.example !== undefined);
  t.true(examples.length >= 8, `only ${examples.length} example blocks found`);
  for (const block of examples) {
    const file = readFileSync(join(repoRoot, block.example!), 'utf8');
    t.is(`${block.code}\n`, file, `${block.doc}:${block.line} differs from ${block.example}`);
  }
});

test('the blocks left unchecked are few, TypeScript only where marked, and each says why', (t) => {
  const unchecked = blocks.filter((block) => block.unchecked !== undefined);
  for (const block of unchecked) t.regex(block.unchecked!, /\w+ \w+/, `${block.doc}:${block.line} gives no reason`);
  t.log(unchecked.map((block) => `${block.doc}:${block.line} (${block.lang}): ${block.unchecked}`).join('\n'));
  t.true(unchecked.length <= 5, `${unchecked.length} blocks unchecked`);
  const untyped = blocks.filter((block) => ['js', 'javascript', 'jsx', 'tsx'].includes(block.lang));
  t.deepEqual(
    untyped.map((block) => `${block.doc}:${block.line}`),
    [],
    'a block of code without a language, or in JavaScript, escapes the type check: make it ```ts, or ```sh/```html/```json',
  );
});
