// Bundles src/main.ts and src/post.ts into dist/*.cjs, the files action.yml runs (and the files
// they load when needed: recover.cjs, undici.cjs).
// CommonJS output: ssh2 and its optional native parts are CommonJS and load cleanly that way.
// Usage: node scripts/build.mjs [outdir]   (default dist)
import { build } from 'esbuild';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

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

// Files of their own in dist/, loaded when first needed, so that the code before the first SSH
// connection (and a post step with nothing to do) does not parse them: undici (~540 KB, the health
// prober's HTTP client, first used while the new JVM starts) and the post step's recovery.
const ownFiles = {
  name: 'own-files',
  setup(b) {
    b.onResolve({ filter: /^undici$/ }, (a) => (a.importer.includes('/src/') ? { path: './undici.cjs', external: true } : undefined));
    b.onResolve({ filter: /^\.\/recover\.ts$/ }, () => ({ path: './recover.cjs', external: true }));
  },
};

// ssh2 asks the server whether it would accept the key (a query without a signature), and signs
// only after its yes: one round trip more per connection than needed. RFC 4252 (7) lets a client
// send the signed request at once, and OpenSSH's server takes it on the same code path. This
// changes that one call, in the bundle only; ssh2 still falls back to its query for a key's other
// signature algorithms after a refusal. The build fails if ssh2's code is no longer as expected.
const SSH2_PK_QUERY = `            proto.authPK(username, curAuth.key, keyAlgo);
            break;
          }
          case 'hostbased': {`;
const SSH2_PK_SIGNED = `            proto.authPK(username, curAuth.key, keyAlgo, (buf, cb) => {
              const hashAlgo = curAuth.keyAlgos ? curAuth.keyAlgos[0][1] : undefined;
              const signature = curAuth.key.sign(buf, hashAlgo);
              if (signature instanceof Error) {
                signature.message = \`Error signing data with key: \${signature.message}\`;
                signature.level = 'client-authentication';
                this.emit('error', signature);
                return tryNextAuth();
              }
              cb(signature);
            });
            break;
          }
          case 'hostbased': {`;
const signedPublickey = {
  name: 'ssh2-signed-publickey',
  setup(b) {
    b.onLoad({ filter: /[\\/]ssh2[\\/]lib[\\/]client\.js$/ }, async (a) => {
      const text = await readFile(a.path, 'utf8');
      const at = text.indexOf(SSH2_PK_QUERY);
      if (at < 0 || text.indexOf(SSH2_PK_QUERY, at + 1) >= 0) throw new Error(`${a.path}: the publickey query is not where scripts/build.mjs expects it (ssh2 changed): review the signed-publickey change`);
      return { contents: text.slice(0, at) + SSH2_PK_SIGNED + text.slice(at + SSH2_PK_QUERY.length), loader: 'js' };
    });
  },
};

export async function bundle(outdir = 'dist') {
  // A file the build no longer makes must not stay behind (check-dist compares the lists).
  for (const f of existsSync(outdir) ? readdirSync(outdir, { withFileTypes: true }) : []) if (f.isFile() && /\.cjs(\.LEGAL\.txt)?$/.test(f.name)) rmSync(path.join(outdir, f.name));
  await build({
    entryPoints: { main: 'src/main.ts', post: 'src/post.ts', recover: 'src/recover.ts', undici: 'node_modules/undici/index.js' },
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
    plugins: [pureHttpClient, ownFiles, signedPublickey],
  });
}

if (import.meta.url === `file://${process.argv[1]}`) await bundle(process.argv[2]);
