import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { majorTag, notesFor, parseChangelog, parseTag, planRelease, pushRelease, ReleaseError, shouldMoveMajor } from '../../scripts/release-notes.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

const CHANGELOG = `# Changelog

All notable changes to this project are documented in this file.

## [Unreleased]

## [1.1.0] - 2026-12-20

### Added

- A new input.

### Fixed

- A bug.

## [1.0.0] - 2026-12-01

### Added

- Everything.

\`\`\`
## not a heading inside a code block
\`\`\`

[1.1.0]: https://example.com/compare/v1.0.0...v1.1.0
[1.0.0]: https://example.com/releases/tag/v1.0.0
`;

test('parseTag: vX.Y.Z only', () => {
  assert.deepEqual(parseTag('v1.2.3'), { major: 1, minor: 2, patch: 3 });
  assert.deepEqual(parseTag('v0.10.0'), { major: 0, minor: 10, patch: 0 });
  for (const bad of ['1.2.3', 'v1.2', 'v1', 'v1.2.3-rc.1', 'v1.2.3+build', 'v01.2.3', 'v1.02.3', 'V1.2.3', 'v1.2.3 ', '']) {
    assert.throws(() => parseTag(bad), ReleaseError, bad);
  }
});

test('majorTag: the moving tag of a version', () => {
  assert.equal(majorTag('v1.4.2'), 'v1');
  assert.equal(majorTag('v12.0.0'), 'v12');
  assert.throws(() => majorTag('v1'), ReleaseError);
});

test('shouldMoveMajor: only the newest of its major moves it', () => {
  assert.equal(shouldMoveMajor('v1.0.0', []), true);
  assert.equal(shouldMoveMajor('v1.2.0', ['v1', 'v1.0.0', 'v1.1.0']), true);
  assert.equal(shouldMoveMajor('v1.1.1', ['v1', 'v1.1.0', 'v1.2.0']), false, 'a fix to an older minor line');
  assert.equal(shouldMoveMajor('v1.3.0', ['v2.0.0', 'v1.2.0']), true, 'another major does not count');
  assert.equal(shouldMoveMajor('v1.2.0', ['v1.2.0']), true, 'the tag itself');
  assert.equal(shouldMoveMajor('v1.2.0', ['v1.10.0-rc.1', 'latest', ' v1.3.0 ']), false, 'other tags ignored, whitespace trimmed');
});

test('parseChangelog: sections in order, link definitions and code blocks left out', () => {
  const s = parseChangelog(CHANGELOG);
  assert.deepEqual(
    s.map((x) => [x.version, x.date]),
    [
      ['Unreleased', undefined],
      ['1.1.0', '2026-12-20'],
      ['1.0.0', '2026-12-01'],
    ],
  );
  assert.equal(s[0].body, '');
  assert.equal(s[1].body, '### Added\n\n- A new input.\n\n### Fixed\n\n- A bug.');
  assert.ok(s[2].body.startsWith('### Added\n\n- Everything.'));
  assert.ok(s[2].body.includes('## not a heading inside a code block'));
  assert.ok(!s[2].body.includes('[1.0.0]:'));
});

test('parseChangelog: refuses what breaks the format', () => {
  const bad: [string, RegExp][] = [
    ['## 1.0.0 - 2026-12-01\n', /is not '## \[Unreleased\]'/],
    ['## [1.0.0]\n', /has no date/],
    ['## [Unreleased] - 2026-12-01\n', /Unreleased section has no date/],
    ['## [1.0.0] - 2026-13-45\n', /is not a date/],
    ['## [1.0.0] - 2026-12-01\n### Improved\n', /kinds of change are/],
    ['## [1.0.0] - 2026-12-01\n## [1.1.0] - 2026-12-02\n', /newest first/],
    ['## [1.0.0] - 2026-12-01\n## [1.0.0] - 2026-12-01\n', /listed twice/],
    ['## [1.0.0] - 2026-12-01\n## [Unreleased]\n', /must come first/],
    ['# Changelog\n', /has no section/],
  ];
  for (const [text, re] of bad) assert.throws(() => parseChangelog(text), re, text);
});

test('notesFor: the section of that version, not empty', () => {
  assert.equal(notesFor(CHANGELOG, '1.1.0'), '### Added\n\n- A new input.\n\n### Fixed\n\n- A bug.');
  assert.throws(() => notesFor(CHANGELOG, '2.0.0'), /no section for 2.0.0/);
  assert.throws(() => notesFor('## [Unreleased]\n\n## [1.0.0] - 2026-12-01\n\n', '1.0.0'), /is empty/);
});

test('planRelease: tag, notes, major tag, and package.json in step', () => {
  const p = planRelease({ tag: 'v1.1.0', changelog: CHANGELOG, packageVersion: '1.1.0', tags: ['v1', 'v1.0.0'] });
  assert.deepEqual({ ...p, notes: undefined }, { tag: 'v1.1.0', version: '1.1.0', date: '2026-12-20', major: 'v1', moveMajor: true, notes: undefined });
  // No tag: the newest released version (a dry run).
  assert.equal(planRelease({ changelog: CHANGELOG, packageVersion: '1.1.0' }).tag, 'v1.1.0');
  assert.equal(planRelease({ tag: 'v1.0.0', changelog: CHANGELOG, packageVersion: '1.0.0', tags: ['v1.1.0'] }).moveMajor, false);
  assert.throws(() => planRelease({ tag: 'v1.1.0', changelog: CHANGELOG, packageVersion: '1.0.0' }), /package.json's version is 1.0.0/);
  assert.throws(() => planRelease({ tag: '1.1.0', changelog: CHANGELOG, packageVersion: '1.1.0' }), /not a version tag/);
  assert.throws(() => planRelease({ changelog: '## [Unreleased]\n- x\n', packageVersion: '1.0.0' }), /no released version/);
});

test('the command line: --dry-run on the repository CHANGELOG.md, and outputs for the workflow', () => {
  const node = process.execPath;
  const script = path.join(ROOT, 'scripts/release-notes.ts');
  const out = execFileSync(node, [script, '--dry-run'], { cwd: ROOT, encoding: 'utf8' });
  const version = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  assert.match(out, new RegExp(`^v${version.replace(/\./g, '\\.')} \\(\\d{4}-\\d{2}-\\d{2}\\): dry run, nothing is created`));

  const dir = mkdtempSync(path.join(tmpdir(), 'release-notes-'));
  try {
    const tags = path.join(dir, 'tags');
    const notes = path.join(dir, 'notes.md');
    const output = path.join(dir, 'output');
    writeFileSync(tags, `v${version}\nv1\n`);
    execFileSync(node, [script, '--tag', `v${version}`, '--tags-file', tags, '--notes-file', notes, '--github-output', output], { cwd: ROOT });
    assert.equal(readFileSync(output, 'utf8'), `release=true\ntag=v${version}\nversion=${version}\nmajor=v${version.split('.')[0]}\nmove-major=true\n`);
    // A push to main: the version is tagged already (the tags file says so), nothing to do.
    const pushed = path.join(dir, 'pushed');
    execFileSync(node, [script, '--push', '--tags-file', tags, '--github-output', pushed], { cwd: ROOT });
    assert.equal(readFileSync(pushed, 'utf8'), `release=false\ntag=v${version}\n`);
    writeFileSync(tags, 'v0.0.1\n');
    execFileSync(node, [script, '--push', '--tags-file', tags, '--github-output', pushed], { cwd: ROOT });
    assert.match(readFileSync(pushed, 'utf8'), new RegExp(`release=true\ntag=v${version.replace(/\./g, '\\.')}\n`));
    assert.match(spawn(node, [script, '--push'], ROOT).stderr, /--push needs --tags-file/);
    assert.equal(readFileSync(notes, 'utf8'), `${notesFor(readFileSync(path.join(ROOT, 'CHANGELOG.md'), 'utf8'), version)}\n`);
    // Without --dry-run a tag is required, and a bad one fails with the reason.
    const r1 = spawn(node, [script], ROOT);
    assert.equal(r1.status, 1);
    assert.match(r1.stderr, /--tag vX.Y.Z is required/);
    const r2 = spawn(node, [script, '--tag', 'v1.0'], ROOT);
    assert.equal(r2.status, 1);
    assert.match(r2.stderr, /^release-notes: 'v1.0' is not a version tag/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('pushRelease: a push to main releases package.json\'s version once, when it has no tag yet', () => {
  const d = pushRelease({ changelog: CHANGELOG, packageVersion: '1.1.0', tags: ['v1', 'v1.0.0'] });
  assert.ok(d.release);
  assert.deepEqual([d.plan.tag, d.plan.major, d.plan.moveMajor], ['v1.1.0', 'v1', true]);
  const again = pushRelease({ changelog: CHANGELOG, packageVersion: '1.1.0', tags: ['v1', 'v1.0.0', 'v1.1.0'] });
  assert.equal(again.release, false, 'tagged already: nothing');
  // A version with no section of its own is an error, not a silent skip.
  assert.throws(() => pushRelease({ changelog: CHANGELOG, packageVersion: '1.2.0', tags: [] }), /no section for 1.2.0/);
});

test('the release workflow: a push to main runs --push, and the tag, the release and the major tag follow only once it said release=true and the tests passed', () => {
  const wf = parse(readFileSync(path.join(ROOT, '.github/workflows/release.yml'), 'utf8')) as {
    on: { push: { branches: string[]; tags: string[] } };
    jobs: { release: { env: Record<string, string>; permissions: Record<string, string>; steps: { name?: string; if?: string; run?: string; id?: string }[] } };
  };
  assert.ok(wf.on.push.branches.includes('main'), 'runs on a push to main');
  const job = wf.jobs.release;
  assert.equal(job.permissions.contents, 'write', 'may push the tag');
  assert.match(job.env.ON_MAIN, /github\.event_name == 'push' && github\.ref_type == 'branch'/);
  const steps = job.steps;
  const at = (name: string) => steps.findIndex((x) => x.name === name);
  const notes = steps.find((x) => x.id === 'notes')!;
  assert.match(notes.run!, /if \[ "\$ON_MAIN" = true \]; then\n\s+set -- "\$@" --push/);
  assert.match(notes.run!, /git tag -l 'v\*' > "\$RUNNER_TEMP\/tags.txt"/);
  for (const name of ['Tests (typecheck, lint, docs, unit, end-to-end)', 'Tag the commit', 'Create the GitHub release', 'Move the major tag']) {
    assert.ok(at(name) > steps.indexOf(notes), name);
    assert.match(steps[at(name)].if ?? '', /steps\.notes\.outputs\.release == 'true'/, `${name} runs only for a release`);
  }
  assert.ok(at('Tests (typecheck, lint, docs, unit, end-to-end)') < at('Tag the commit'), 'tagged only once the tests passed');
  assert.ok(at('Tag the commit') < at('Create the GitHub release'));
  assert.match(steps[at('Tag the commit')].if!, /env\.ON_MAIN == 'true'/);
  assert.match(steps[at('Tag the commit')].run!, /git tag "\$\{\{ steps\.notes\.outputs\.tag \}\}" "\$GITHUB_SHA"\n\s*git push origin "refs\/tags\//);
});

test("on this repository's history: a push to main would release each version once, at the commit that set it, and the current version is next", (t) => {
  const git = (...args: string[]) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  let shallow: string;
  try {
    shallow = git('rev-parse', '--is-shallow-repository').trim();
  } catch {
    t.skip('not a git clone');
    return;
  }
  if (shallow === 'true') {
    t.skip('a shallow clone has no history to replay (fetch-depth: 0)');
    return;
  }
  // Every commit on main (first parent) that changed the version or the changelog, oldest first,
  // from the first that has a CHANGELOG.md: what the workflow would do had each been pushed alone,
  // with the tags this clone has plus those the earlier pushes would have made.
  const commits = git('log', '--reverse', '--first-parent', '--format=%H', '--', 'package.json', 'CHANGELOG.md').split('\n').filter(Boolean);
  const tags = git('tag', '-l', 'v*').split('\n').map((x) => x.trim()).filter(Boolean);
  const released: string[] = [];
  for (const c of commits) {
    let changelog: string;
    try {
      changelog = git('show', `${c}:CHANGELOG.md`);
    } catch {
      continue;
    }
    const version = (JSON.parse(git('show', `${c}:package.json`)) as { version: string }).version;
    const d = pushRelease({ changelog, packageVersion: version, tags });
    if (d.release) {
      released.push(d.plan.tag);
      tags.push(d.plan.tag);
    }
  }
  // The working tree, as the next commit (a version set but not committed yet).
  const version = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  const next = pushRelease({ changelog: readFileSync(path.join(ROOT, 'CHANGELOG.md'), 'utf8'), packageVersion: version, tags });
  if (next.release) released.push(next.plan.tag);
  const sections = parseChangelog(readFileSync(path.join(ROOT, 'CHANGELOG.md'), 'utf8')).filter((x) => x.version !== 'Unreleased');
  // Each version of the changelog that this clone has no tag of is released once, oldest first;
  // the newest is package.json's.
  const had = git('tag', '-l', 'v*').split('\n').map((x) => x.trim());
  assert.deepEqual(released, sections.map((x) => `v${x.version}`).reverse().filter((x) => !had.includes(x)));
  assert.equal(sections[0].version, version, "the newest version in CHANGELOG.md is package.json's");
});

function spawn(cmd: string, args: string[], cwd: string): { status: number | null; stderr: string } {
  try {
    execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return { status: 0, stderr: '' };
  } catch (e) {
    const x = e as { status: number | null; stderr: string };
    return { status: x.status, stderr: x.stderr };
  }
}
