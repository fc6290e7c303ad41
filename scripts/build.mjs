// Bundles src/start.ts and src/post.ts into dist/main.cjs and dist/post.cjs, the files action.yml
// runs, and the files they load: deploy.cjs (src/main.ts, the action, which main.cjs loads once it
// has opened the TCP connections), recover.cjs and undici.cjs (when needed).
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
    // dist/main.cjs (src/start.ts) opens the TCP connections, then loads the rest: deploy.cjs.
    b.onResolve({ filter: /^\.\/main\.ts$/ }, (a) => (path.basename(a.importer) === 'start.ts' ? { path: './deploy.cjs', external: true } : undefined));
  },
};

// Two round trips less per connection, in ssh2's client (bundled copy only: the build changes
// these exact lines of its lib/client.js and fails if they are no longer there, so a new ssh2
// version is reviewed, not patched blindly):
// - The publickey request is sent signed at once. ssh2 asks first whether the server would take
//   the key (a request without signature) and signs after its yes; RFC 4252 (7) lets a client send
//   the signature directly, and OpenSSH's server takes it on the same path. After a refusal ssh2
//   still falls back to its query for the key's other signature algorithms.
// - Authentication starts once the server's EXT_INFO (RFC 8308, sent with its NEWKEYS; it names
//   the signature algorithms an RSA key needs) is in, right behind the ssh-userauth service
//   request, instead of a round trip later at the SERVICE_ACCEPT. A server processes both in
//   order (OpenSSH: the accept, then the request). Without EXT_INFO, the accept starts it as before.
// And one more per channel a connection starts with:
// - Session channels open right behind the signed publickey request, `zddPreopen` of them (a
//   connect option only this bundle reads), when the server is OpenSSH 7 or later: RFC 4252 (5.1) hands
//   what follows the request that succeeds to the service, so their confirmations come with the
//   USERAUTH_SUCCESS, and exec() takes one of them and sends its exec at once (one round trip
//   to the answer instead of two). They carry nothing but the open; after a USERAUTH_FAILURE the
//   server ignored them and they are dropped. Delayed compression (zlib@openssh.com) would start
//   between the request and them: connections offer no compression (remote.ts). A spare the
//   server refuses (MaxSessions) makes exec() open a channel the usual way.
const SSH2_EDITS = [
  [
    `            proto.authPK(username, curAuth.key, keyAlgo);
            break;
          }
          case 'hostbased': {`,
    `            let signed = false;
            proto.authPK(username, curAuth.key, keyAlgo, (buf, cb) => {
              const hashAlgo = curAuth.keyAlgos ? curAuth.keyAlgos[0][1] : undefined;
              const signature = curAuth.key.sign(buf, hashAlgo);
              if (signature instanceof Error) {
                signature.message = \`Error signing data with key: \${signature.message}\`;
                signature.level = 'client-authentication';
                this.emit('error', signature);
                return tryNextAuth();
              }
              cb(signature);
              signed = true;
            });
            if (signed && cfg.zddPreopen > 0 && !this._zddSpare && /^OpenSSH_([7-9]|[1-9]\\d)/.test(this._remoteVer || '')) this._zddPreopen(cfg.zddPreopen);
            break;
          }
          case 'hostbased': {`,
  ],
  [
    `    let serverSigAlgs;
`,
    `    let serverSigAlgs;
    let authStarted = false;
`,
  ],
  [
    `        SERVICE_ACCEPT: (p, name) => {
          if (name === 'ssh-userauth')
            tryNextAuth();
        },
        EXT_INFO: (p, exts) => {
          if (serverSigAlgs === undefined) {
            for (const ext of exts) {
              if (ext.name === 'server-sig-algs') {
                serverSigAlgs = ext.algs;
                return;
              }
            }
            serverSigAlgs = null;
          }
        },`,
    `        SERVICE_ACCEPT: (p, name) => {
          if (name === 'ssh-userauth' && !authStarted) {
            authStarted = true;
            tryNextAuth();
          }
        },
        EXT_INFO: (p, exts) => {
          if (serverSigAlgs === undefined) {
            serverSigAlgs = null;
            for (const ext of exts) {
              if (ext.name === 'server-sig-algs') {
                serverSigAlgs = ext.algs;
                break;
              }
            }
          }
          if (ready && !authStarted) {
            authStarted = true;
            tryNextAuth();
          }
        },`,
  ],
  [
    `        USERAUTH_FAILURE: (p, authMethods, partialSuccess) => {
`,
    `        USERAUTH_FAILURE: (p, authMethods, partialSuccess) => {
          // The server ignored the channels opened behind a refused request (OpenSSH answers
          // them UNIMPLEMENTED): none will ever open.
          this._zddSpare = undefined;
`,
  ],
  [
    `    const extraOpts = { allowHalfOpen: (opts.allowHalfOpen !== false) };

    openChannel(this, 'session', extraOpts, (err, chan) => {`,
    `    const extraOpts = { allowHalfOpen: (opts.allowHalfOpen !== false) };

    const spare = this._zddSpare && this._zddSpare.shift();
    const open = (done) => openChannel(this, 'session', extraOpts, done);
    // A spare the server refused (MaxSessions, say) is asked for again the usual way.
    (spare ? (done) => spare((err, chan) => (err && err.reason !== undefined && isWritable(this._sock) ? open(done) : done(err, chan))) : open)((err, chan) => {`,
  ],
  [
    `  destroy() {
    this._sock && isWritable(this._sock) && this._sock.destroy();`,
    `  _zddPreopen(n) {
    this._zddSpare = [];
    for (let i = 0; i < n; i++) {
      let result;
      const waiting = [];
      openChannel(this, 'session', (err, chan) => {
        result = [err, chan];
        for (const w of waiting.splice(0)) w(err, chan);
      });
      this._zddSpare.push((cb) => (result ? cb(...result) : waiting.push(cb)));
    }
  }

  destroy() {
    this._sock && isWritable(this._sock) && this._sock.destroy();`,
  ],
];
export const ssh2Client = {
  name: 'ssh2-client-round-trips',
  setup(b) {
    b.onLoad({ filter: /[\\/]ssh2[\\/]lib[\\/]client\.js$/ }, async (a) => {
      let text = await readFile(a.path, 'utf8');
      for (const [from, to] of SSH2_EDITS) {
        const at = text.indexOf(from);
        if (at < 0 || text.indexOf(from, at + 1) >= 0) throw new Error(`${a.path}: ssh2 changed (this is no longer there exactly once, scripts/build.mjs): ${from.split('\n')[0].trim()}`);
        text = text.slice(0, at) + to + text.slice(at + from.length);
      }
      return { contents: text, loader: 'js' };
    });
  },
};

// ssh2's index requires every part of ssh2 when it is loaded: its server, its key generator and its
// HTTP agents, whose `require('https')` and `require('tls')` alone cost node ~40 ms at start-up.
// This action uses its Client and utils.parseKey. In the bundle, the index gives the same exports,
// each required when first read (a getter), so that what is never read is never run. The build
// fails if ssh2's index no longer requires exactly these files, so a new ssh2 is reviewed.
const SSH2_INDEX_REQUIRES = ['./agent.js', './http-agents.js', './protocol/keyParser.js', './protocol/SFTP.js', './client.js', './server.js', './keygen.js'];
const lazySsh2Index = {
  name: 'ssh2-lazy-index',
  setup(b) {
    b.onLoad({ filter: /[\\/]ssh2[\\/]lib[\\/]index\.js$/ }, async (a) => {
      const text = await readFile(a.path, 'utf8');
      const requires = [...text.matchAll(/require\('([^']+)'\)/g)].map((m) => m[1]);
      if (requires.join() !== SSH2_INDEX_REQUIRES.join()) throw new Error(`${a.path}: ssh2's index changed (it requires ${requires.join(', ')}; scripts/build.mjs expects ${SSH2_INDEX_REQUIRES.join(', ')})`);
      const contents = `'use strict';
const lazy = (o, name, get) => Object.defineProperty(o, name, { enumerable: true, configurable: true, get });
const agent = () => require('./agent.js');
const sftp = () => require('./protocol/SFTP.js');
const utils = { sftp: {} };
lazy(utils, 'parseKey', () => require('./protocol/keyParser.js').parseKey);
for (const k of ['flagsToString', 'OPEN_MODE', 'STATUS_CODE', 'stringToFlags']) lazy(utils.sftp, k, () => sftp()[k]);
for (const k of ['generateKeyPair', 'generateKeyPairSync']) lazy(utils, k, () => require('./keygen.js')[k]);
module.exports = { utils };
for (const k of ['AgentProtocol', 'BaseAgent', 'createAgent', 'CygwinAgent', 'OpenSSHAgent', 'PageantAgent']) lazy(module.exports, k, () => agent()[k]);
lazy(module.exports, 'Client', () => require('./client.js'));
lazy(module.exports, 'Server', () => require('./server.js'));
lazy(module.exports, 'HTTPAgent', () => require('./http-agents.js').SSHTTPAgent);
lazy(module.exports, 'HTTPSAgent', () => require('./http-agents.js').SSHTTPSAgent);
`;
      return { contents, loader: 'js', resolveDir: path.dirname(a.path) };
    });
  },
};

export async function bundle(outdir = 'dist') {
  // A file the build no longer makes must not stay behind (check-dist compares the lists).
  for (const f of existsSync(outdir) ? readdirSync(outdir, { withFileTypes: true }) : []) if (f.isFile() && /\.cjs(\.LEGAL\.txt)?$/.test(f.name)) rmSync(path.join(outdir, f.name));
  await build({
    entryPoints: { main: 'src/start.ts', deploy: 'src/main.ts', post: 'src/post.ts', recover: 'src/recover.ts', undici: 'node_modules/undici/index.js' },
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
    plugins: [pureHttpClient, ownFiles, ssh2Client, lazySsh2Index],
  });
}

if (import.meta.url === `file://${process.argv[1]}`) await bundle(process.argv[2]);
