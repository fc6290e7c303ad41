// Fails when dist/ is not the build of src/: builds into a temp dir and compares byte for byte.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { bundle } from './build.mjs';

const tmp = mkdtempSync(path.join(tmpdir(), 'dist-check-'));
try {
  await bundle(tmp);
  const want = readdirSync(tmp).sort();
  const have = readdirSync('dist').sort();
  const stale = [];
  if (JSON.stringify(want) !== JSON.stringify(have)) stale.push(`files differ: dist has [${have}], the build makes [${want}]`);
  for (const f of want) {
    if (have.includes(f) && !readFileSync(path.join(tmp, f)).equals(readFileSync(path.join('dist', f)))) stale.push(`dist/${f} is not the build of src/`);
  }
  if (stale.length > 0) {
    console.error(`dist/ is stale:\n  ${stale.join('\n  ')}\nRun \`npm run build\` and commit dist/.`);
    process.exit(1);
  }
  console.log('dist/ is the build of src/');
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
