// Bundles src/main.ts and src/post.ts into dist/*.cjs, the files action.yml runs.
// CommonJS output: ssh2 and its optional native parts are CommonJS and load cleanly that way.
import { build } from 'esbuild';

await build({
  entryPoints: { main: 'src/main.ts', post: 'src/post.ts' },
  outdir: 'dist',
  outExtension: { '.js': '.cjs' },
  bundle: true,
  platform: 'node',
  target: 'node24',
  format: 'cjs',
  // ssh2 tries optional native add-ons inside try/catch and falls back to pure JS.
  external: ['cpu-features', '*.node'],
  legalComments: 'linked',
  logLevel: 'warning',
  minify: false,
});
