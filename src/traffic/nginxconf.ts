// Which file nginx really serves from. Pure: works on what one read script printed on an nginx
// host (see commands/nginx.ts readNginx): `nginx -T` (nginx-test-command with -T for -t), which
// prints every file of the configuration it loads as `# configuration file PATH:` + content.
//
// An explicit include-file must be one of those files (or, not existing yet, be picked up by an
// `include` directive of them); without one, the include is the one loaded file that looks like
// it: a `set $VAR http://HOST:PORT;` whose variable proxy_pass uses, or an upstream block naming
// an app host.
import { parseRefusal } from '../commands/nginx.ts';
import { type IncludeForm, IncludeError, parseInclude } from './include.ts';
import { candidates, globMatches, includeDirectives, type LoadedFile, type NginxRead } from './nginxfiles.ts';

export type { LoadedFile, NginxRead } from './nginxfiles.ts';

// traffic/nginx.ts asks this module which names nginx cannot resolve.
export { unresolvableName } from './nginxfiles.ts';

const HEADER = /^# configuration file (.*):$/;

/** Splits nginx -T's stdout into its files: each is its header, its content, then one LF. */
export function parseDump(dump: string): { name: string; text: string }[] {
  const out: { name: string; text: string }[] = [];
  const lines = dump.split('\n');
  let cur: { name: string; lines: string[] } | undefined;
  const close = () => {
    if (cur) out.push({ name: cur.name, text: cur.lines.join('\n') });
  };
  // The dump ends with the LF nginx adds after the last file: that LF ends the last line.
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  for (const l of lines) {
    const m = HEADER.exec(l);
    if (m) {
      close();
      cur = { name: m[1], lines: [] };
    } else cur?.lines.push(l);
  }
  close();
  return out;
}

/**
 * Parses the read script's answer (marker lines `zdd-KEY ...`, then the dump). Returns a string
 * for output the script did not give (a login banner, a start-up file printing).
 */
export function parseNginxRead(stdout: string, key: string): NginxRead | string {
  const mark = `zdd-${key} `;
  const dumpAt = stdout.indexOf(`\nzdd-${key} dump\n`);
  const head = (dumpAt < 0 ? stdout : stdout.slice(0, dumpAt)).split('\n');
  const dump = dumpAt < 0 ? '' : stdout.slice(dumpAt + `\nzdd-${key} dump\n`.length);
  const r: NginxRead = { uid: -1, user: '?', workers: 0, status: -1, error: '', files: [], resolved: new Map(), refused: [] };
  const files: { name: string; real: string; writable: boolean }[] = [];
  let inError = false;
  let seen = false;
  for (const l of head) {
    if (!l.startsWith(mark)) {
      if (inError) r.error += `${l}\n`;
      continue;
    }
    seen = true;
    const rest = l.slice(mark.length);
    const [kind] = rest.split(' ', 1);
    const args = rest.slice(kind.length + 1);
    if (kind === 'uid') {
      const m = /^(\d+) (.*)$/.exec(args);
      if (m) [r.uid, r.user] = [Number(m[1]), m[2]];
    } else if (kind === 'workers') {
      r.workers = args.trim() === 'no-ps' ? 'no-ps' : Number(args.trim()) || 0;
    } else if (kind === 'want') {
      const m = /^(present|absent|nodir) ([wr]) (\S+) (.*)$/.exec(args);
      if (m) r.want = { state: m[1] as 'present', writable: m[2] === 'w', owner: m[3], real: m[4] };
    } else if (kind === 'status') {
      r.status = /^\d+$/.test(args) ? Number(args) : -1;
      if (r.status !== 0) r.error = args === String(r.status) ? '' : `${args}\n`;
      inError = r.status !== 0;
    } else if (kind === 'sudo-refused') {
      const rf = parseRefusal(args);
      if (rf) (r.refused ??= []).push(rf);
    } else if (kind === 'resolve') {
      const m = /^(\S+) (\S+)$/.exec(args);
      if (m) r.resolved.set(m[1], m[2]);
    } else if (kind === 'file') {
      const m = /^([wr]) ([^\t]*)\t(.*)$/.exec(args);
      if (m) files.push({ writable: m[1] === 'w', name: m[2], real: m[3] });
    }
  }
  if (!seen) return `unexpected output while reading nginx's configuration (a login banner or a shell start-up file printing something?): '${stdout.slice(0, 300).trim()}'`;
  r.error = r.error.trim();
  if (r.status === 0) {
    const texts = new Map(parseDump(dump).map((f) => [f.name, f.text]));
    r.files = files.map((f) => ({ ...f, text: texts.get(f.name) ?? '' }));
  }
  return r;
}

export interface ChosenInclude {
  /** the file to write (symlinks resolved) */
  path: string;
  /** the name nginx's dump gives it: after a write, its content there must be the new one */
  loadedAs: string;
  /** its text; null: it does not exist yet (first deploy) */
  text: string | null;
  form: IncludeForm | null;
  /** how it was found, for the log and the dry run */
  how: string;
  writable: boolean;
  owner?: string;
}

export class ChoiceError extends Error {}

const listFiles = (files: LoadedFile[]) =>
  files.length <= 12 ? files.map((f) => f.name).join(', ') : `${files.slice(0, 12).map((f) => f.name).join(', ')} and ${files.length - 12} more`;

const listCandidates = (c: { file: LoadedFile; why: string }[]) => c.map((x) => `${x.file.name} (${x.why})`).join('; ');

/** The commands that create an include with `text` at `path`, then test nginx's configuration. */
export function createHint(path: string, text: string): string {
  const lines = text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
  const quoted = lines.map((l) => `'${l.replace(/'/g, `'\\''`)}'`).join(' ');
  return `printf '%s\\n' ${quoted} | sudo tee ${path} && sudo nginx -t`;
}

/**
 * Decides which file is the include on one nginx host. `explicit`: the include-file input (empty:
 * find it). `dump`: the dump command, for messages. `create`: the include a first deploy needs
 * (pointing at the first of ports), for the messages that say to create it. Throws a
 * ChoiceError saying what nginx loads.
 */
export function chooseInclude(r: NginxRead, explicit: string | undefined, targets: readonly string[], dump: string, create = ''): ChosenInclude {
  const parse = (name: string, text: string) => {
    try {
      return parseInclude(text, targets);
    } catch (e) {
      if (e instanceof IncludeError) throw new ChoiceError(`${name} ${e.message}`);
      throw e;
    }
  };
  if (r.status !== 0) {
    // nginx.conf includes the very file that does not exist yet: nginx -t fails until it does, and
    // any restart of nginx now would fail. The include is created first, by hand (nothing changes here).
    if (explicit && r.want?.state === 'absent' && r.error.includes(`open() "${explicit}" failed (2: No such file or directory)`)) {
      throw new ChoiceError(
        `nginx's configuration includes ${explicit} by name and it does not exist, so \`${dump}\` fails: an nginx restart, a reboot or a package upgrade would take every site on this host down until it does. ` +
          `Create it first, pointing at one of ports (nothing needs to run there: the first deploy starts on the other port and switches to it): ${createHint(explicit, create)}. Nothing was changed`,
      );
    }
    // A glob that matches nothing yet while the server block already uses the include's variable.
    const unknown = /unknown "([A-Za-z_][A-Za-z0-9_]*)" variable/.exec(r.error);
    if (unknown && explicit && r.want?.state === 'absent') {
      throw new ChoiceError(
        `\`${dump}\` fails: unknown "${unknown[1]}" variable: nginx's configuration uses $${unknown[1]} before any file sets it, because include-file ${explicit} does not exist yet. ` +
          `Create it first, pointing at one of ports (nothing needs to run there: the first deploy starts on the other port and switches to it): ${createHint(explicit, create)}. Nothing was changed`,
      );
    }
    throw new ChoiceError(
      `could not list the files nginx loads: \`${dump}\` ${r.status < 0 ? 'could not run' : `exited ${r.status}`}${r.error ? `: ${r.error.split('\n').slice(-6).join(' / ')}` : ''}. ` +
        'The action runs nginx-test-command with -T in place of -t (or `nginx -T` when it has no -t) to see which files nginx serves from; fix the configuration, or give nginx-test-command with the -c/-p flags of the nginx that serves',
    );
  }
  const found = candidates(r.files, targets);
  if (explicit) {
    const want = r.want;
    if (!want || want.state === 'nodir') {
      throw new ChoiceError(`the directory of include-file ${explicit} does not exist; fix include-file or create the directory and include it from nginx.conf`);
    }
    if (want.state === 'present') {
      const f = r.files.find((x) => x.name === explicit || x.real === want.real);
      if (f) return { path: f.real, loadedAs: f.name, text: f.text, form: parse(explicit, f.text), how: `include-file ${explicit}, which nginx loads`, writable: f.writable, owner: want.owner };
      throw new ChoiceError(
        `include-file ${explicit} exists, but nginx does not load it (it is not among the ${r.files.length} files \`${dump}\` lists), so switching it would change nothing nginx serves. ` +
          (found.length > 0
            ? `Files nginx loads that look like the include: ${listCandidates(found)}. Set include-file to the one that names the app, or leave it empty to use the only one`
            : `No file nginx loads looks like the include (a 'set $VAR http://HOST:PORT;' whose variable proxy_pass uses, or an upstream block with a server on ${targets.join(', ')}); nginx loads ${listFiles(r.files)}`),
      );
    }
    const dirs = includeDirectives(r.files);
    const by = dirs.find((d) => globMatches(d.absolute, explicit) || globMatches(d.absolute, want.real));
    if (by) {
      return { path: explicit, loadedAs: explicit, text: null, form: null, how: `${explicit} does not exist yet; nginx will load it through 'include ${by.pattern};' in ${by.in} (first deploy)`, writable: want.writable, owner: want.owner };
    }
    throw new ChoiceError(
      `include-file ${explicit} does not exist, and no include directive of nginx's configuration would load it, so a first deploy there would change nothing nginx serves. ` +
        `The include directives nginx has: ${dirs.length > 0 ? dirs.map((d) => `'include ${d.pattern};' in ${d.in}`).join(', ') : 'none'}. ` +
        (found.length > 0 ? `Files nginx loads that look like the include: ${listCandidates(found)}. ` : '') +
        'Include the file from nginx.conf (a glob such as include /etc/nginx/conf.d/*.inc; picks up a new file), or set include-file to a file nginx loads',
    );
  }
  if (found.length === 1) {
    const f = found[0].file;
    return { path: f.real, loadedAs: f.name, text: f.text, form: parse(f.name, f.text), how: `found: the one file nginx loads that looks like the include (${found[0].why})`, writable: f.writable, owner: r.want?.owner };
  }
  if (found.length === 0) {
    throw new ChoiceError(
      `include-file is empty, and no file nginx loads looks like the include (a 'set $VAR http://HOST:PORT;' whose variable proxy_pass uses, or an upstream block with a server on ${targets.join(', ')}); nginx loads ${listFiles(r.files)}. ` +
        'For a first deploy, create the include first, pointing at one of ports (nothing needs to run there), in a file nginx loads (docs/server-setup.md, "The nginx include")' + (create
          ? `, e.g. ${createHint('/etc/nginx/conf.d/service-url.inc', create)}, then 'include /etc/nginx/conf.d/service-url.inc;' ${targets.length === 1 ? 'inside the server {} block, with proxy_pass $service_url;' : 'in the http {} block, with proxy_pass http://app;'} and a reload`
          : ''),
    );
  }
  throw new ChoiceError(`include-file is empty, and ${found.length} files nginx loads look like the include: ${listCandidates(found)}. Set include-file to the one to switch`);
}
