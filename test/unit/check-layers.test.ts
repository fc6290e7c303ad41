// The layer check itself: it passes on src/, and fails, naming the file and line, on an import
// from a lower layer to a higher one (a type import too) and on modules importing each other.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkLayers, importsOf, layerOf, parseLayers } from '../../scripts/check-layers.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test('src/ keeps to the layers CONTRIBUTING.md writes down', () => {
  assert.deepEqual(checkLayers(ROOT), []);
});

test('a deliberately wrong import and a circle fail, with the offending line', () => {
  const d = mkdtempSync(path.join(tmpdir(), 'zdd-layers-'));
  dirs.push(d);
  const put = (rel: string, text: string) => {
    mkdirSync(path.dirname(path.join(d, rel)), { recursive: true });
    writeFileSync(path.join(d, rel), text);
  };
  put('CONTRIBUTING.md', '# x\n\n## How src/ is layered\n\n```\nutil/  ->  fleet/ + traffic/  ->  main.ts\n```\n');
  put('src/util/a.ts', "import type { Thing } from '../fleet/b.ts';\nexport const a = 1;\n");
  put('src/fleet/b.ts', "import { c } from '../traffic/c.ts';\nexport type Thing = number;\n");
  put('src/traffic/c.ts', "import {\n  type Thing,\n} from '../fleet/b.ts';\nexport const c = 2;\n");
  put('src/main.ts', "import { a } from './util/a.ts';\n");
  put('src/stray.ts', 'export {};\n');
  const v = checkLayers(d);
  const lines = v.map((x) => `${x.file}:${x.line} ${x.why}`);
  assert.ok(lines.some((l) => /^src\/util\/a\.ts:1 imports fleet\/b\.ts \(layer fleet\/ \+ traffic\/\) from a lower layer \(util\/\)$/.test(l)), lines.join('\n'));
  assert.ok(lines.some((l) => /^src\/fleet\/b\.ts:1 imports traffic\/c\.ts, in a circle of 2 modules/.test(l)), lines.join('\n'));
  assert.ok(lines.some((l) => /^src\/traffic\/c\.ts:1 imports fleet\/b\.ts, in a circle/.test(l)), lines.join('\n'));
  assert.ok(lines.some((l) => /^src\/stray\.ts:1 is in no layer/.test(l)), lines.join('\n'));
  assert.equal(v.length, 4);
});

test('layers and imports are read as written', () => {
  const layers = parseLayers('## How src/ is layered\n```\nutil/ + errors.ts  ->  config/  ->  main.ts, post.ts\n```\n');
  assert.deepEqual(layers, [['util/', 'errors.ts'], ['config/'], ['main.ts', 'post.ts']]);
  assert.equal(layerOf(layers, 'config/inputs.ts'), 1);
  assert.equal(layerOf(layers, 'post.ts'), 2);
  assert.equal(layerOf(layers, 'other.ts'), undefined);
  assert.deepEqual(
    importsOf("import x from 'node:fs';\nexport { y } from './y.ts';\nimport type {\n  Z,\n} from '../z.ts';\n// import { no } from './comment.ts' is not at a line start\n").map((i) => [i.line, i.spec]),
    [[2, './y.ts'], [3, '../z.ts']],
  );
});
