// action.yml's `# since X.Y.Z` lines (the README table's "since" column, scripts/docs.mjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { isMap, parseDocument } from 'yaml';
import { compareVersions, parseTag } from '../../scripts/release-notes.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

test('every input and output says since which release it exists, and none names a release after package.json\'s', () => {
  const doc = parseDocument(readFileSync(path.join(ROOT, 'action.yml'), 'utf8'));
  const version = parseTag(`v${(JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version}`);
  const seen: Record<string, string> = {};
  for (const section of ['inputs', 'outputs']) {
    const map = doc.get(section, true);
    assert.ok(isMap(map), section);
    map.items.forEach((pair, i) => {
      const name = `${section}.${String((pair.key as { value: unknown }).value)}`;
      const comment = (pair.key as { commentBefore?: string }).commentBefore ?? (i === 0 ? map.commentBefore : undefined) ?? '';
      const m = /since (\d+\.\d+\.\d+)\s*$/.exec(comment);
      assert.ok(m, `${name} has no '# since X.Y.Z' line above it`);
      assert.ok(compareVersions(parseTag(`v${m[1]}`), version) <= 0, `${name}: since ${m[1]}, after package.json's ${version.major}.${version.minor}.${version.patch}`);
      seen[name] = m[1];
    });
  }
  // The outputs a failed run sets came with 1.1.0; what 1.0.0 had stays 1.0.0.
  assert.equal(seen['outputs.outcome'], '1.1.0');
  assert.equal(seen['inputs.nginx-host'], '1.0.0');
  assert.equal(seen['inputs.systemd-unit'], '1.1.0');
});
