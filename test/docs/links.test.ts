// Every relative link of README.md and docs/**/*.md reaches a file of the repo, and every #anchor a
// heading of its page (as GitHub makes anchors), so moving a section never leaves a dead link.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import test from 'ava';
import { docFiles, repoRoot } from './blocks.ts';

/** The text of a doc without its fenced code blocks, where a link is only an example. */
function prose(doc: string): string {
  return readFileSync(join(repoRoot, doc), 'utf8').replace(/^([ \t]*)```[\s\S]*?^\1```[ \t]*$/gm, '');
}

/** GitHub's anchors of a Markdown page's headings. */
function anchors(doc: string): Set<string> {
  const seen = new Map<string, number>();
  const found = new Set<string>();
  for (const [, heading] of prose(doc).matchAll(/^#{1,6} (.+)$/gm)) {
    const slug = heading!
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    found.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return found;
}

test('every relative link of the docs reaches a file, and every #anchor a heading of it', (t) => {
  const dead: string[] = [];
  let checked = 0;
  for (const doc of docFiles()) {
    for (const [, target] of prose(doc).matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target!)) continue;
      const [path = '', anchor] = target!.split('#');
      const file = path === '' ? doc : normalize(join(dirname(doc), path));
      checked += 1;
      if (!existsSync(join(repoRoot, file))) dead.push(`${doc}: ${target} (no file ${file})`);
      else if (anchor !== undefined && file.endsWith('.md') && !anchors(file).has(anchor))
        dead.push(`${doc}: ${target} (no heading #${anchor} in ${file})`);
    }
  }
  t.true(checked > 50, `only ${checked} links found`);
  t.deepEqual(dead, []);
});
