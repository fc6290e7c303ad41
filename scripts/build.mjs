// Bundles src/main.ts and src/post.ts into dist/*.cjs, the files action.yml runs.
// CommonJS output: ssh2 and its optional native parts are CommonJS and load cleanly that way.
// Usage: node scripts/build.mjs [outdir]   (default dist)
import { build } from 'esbuild';

export async function bundle(outdir = 'dist') {
  await build({
    entryPoints: { main: 'src/main.ts', post: 'src/post.ts' },
    outdir,
    outExtension: { '.js': '.cjs' },
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'cjs',
    // ssh2 tries optional native add-ons inside try/catch and falls back to pure JS.
    external: ['cpu-features', '*.node'],
    legalComments: 'linked',
    logLevel: 'warning',
    minify: true,
    keepNames: true,
  });
}

if (import.meta.url === `file://${process.argv[1]}`) await bundle(process.argv[2]);
