/**
 * The README is a guide a DBA reads in ten minutes (issue 21): it stays small, says what is
 * needed before anything else, and every link in it leads somewhere. Detail belongs in docs/.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXIT } from '../../local/exit-codes.js';

const README = 'README.md';
const MAX_BYTES = 25_000;
const PREREQUISITES_BY_LINE = 120;

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    const heading = !fenced && /^#{1,6} (.*)$/.exec(line);
    if (!heading) continue;
    const base = heading[1]!
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** Relative links of a markdown file, outside code: `[text](target)`. */
function relativeLinks(markdown: string): string[] {
  const prose = markdown.replace(/```[\s\S]*?```/g, '').replace(/`[^`\n]*`/g, '');
  return [...prose.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!).filter((t) => !/^[a-z]+:/i.test(t));
}

/** The links of `file` that do not resolve: a missing file, or a missing heading in a markdown file. */
function brokenLinks(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return relativeLinks(text).filter((target) => {
    const [path, anchor] = target.split('#') as [string, string | undefined];
    const resolved = path === '' ? file : join(dirname(file), path);
    if (!existsSync(resolved)) return true;
    if (anchor === undefined || !resolved.endsWith('.md') || statSync(resolved).isDirectory()) return false;
    return !anchors(readFileSync(resolved, 'utf8')).has(anchor);
  });
}

describe('The README', () => {
  const text = readFileSync(README, 'utf8');

  it(`stays under ${MAX_BYTES} bytes, so new detail goes to docs/`, () => {
    expect(Buffer.byteLength(text), 'README.md is too long: move the detail to docs/').toBeLessThanOrEqual(
      MAX_BYTES,
    );
  });

  it(`has its Prerequisites section within the first ${PREREQUISITES_BY_LINE} lines`, () => {
    const line = text.split('\n').indexOf('## Prerequisites');
    expect(line, 'no "## Prerequisites" heading').toBeGreaterThanOrEqual(0);
    expect(line + 1).toBeLessThanOrEqual(PREREQUISITES_BY_LINE);
  });

  it('links only to files and headings that exist, and so do the pages in docs/', () => {
    const pages = [
      README,
      ...readdirSync('docs')
        .filter((f) => f.endsWith('.md'))
        .map((f) => join('docs', f)),
    ];
    const broken = pages.flatMap((page) => brokenLinks(page).map((target) => `${page} → ${target}`));
    expect(broken).toEqual([]);
  });

  it("lists npm run local's exit codes exactly as local/exit-codes.ts defines them", () => {
    const listed = [...text.matchAll(/^\| `(\d+)` \|/gm)].map((m) => Number(m[1])).sort((a, b) => a - b);
    expect(listed).toEqual(Object.values(EXIT).sort((a, b) => a - b));
  });
});

describe('Markdown anchors', () => {
  it('are computed as GitHub does', () => {
    expect([...anchors('# A b\n## 3. Use it\n```\n# not a heading\n```\n### `x` → y (z)\n## A b\n')]).toEqual(
      ['a-b', '3-use-it', 'x--y-z', 'a-b-1'],
    );
  });
});
