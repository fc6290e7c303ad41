// Bundles src/main.ts and src/post.ts into dist/*.cjs, the files action.yml runs.
// CommonJS output: ssh2 and its optional native parts are CommonJS and load cleanly that way.
// Usage: node scripts/build.mjs [outdir]   (default dist)
import { build } from 'esbuild';

// @actions/core imports @actions/http-client (with its own copy of undici) for getIDToken, which
// this action never calls. http-client does nothing when imported, so it is declared free of side
// effects and esbuild leaves it out unless something uses it: ~440 KB less to load, ~50 ms less
// start-up before the first SSH connection.
const pureHttpClient = {
  name: 'pure-http-client',
  setup(b) {
    b.onResolve({ filter: /^@actions\/http-client(\/|$)/ }, async (a) => {
      if (a.pluginData === 'resolving') return undefined;
      const r = await b.resolve(a.path, { kind: a.kind, importer: a.importer, resolveDir: a.resolveDir, pluginData: 'resolving' });
      return r.errors.length ? { errors: r.errors } : { ...r, sideEffects: false };
    });
  },
};

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
    plugins: [pureHttpClient],
  });
}

if (import.meta.url === `file://${process.argv[1]}`) await bundle(process.argv[2]);
