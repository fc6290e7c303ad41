// The release's tag and notes, for .github/workflows/release.yml and CI's dry run. Creates
// nothing itself: it checks the tag, takes that version's section out of CHANGELOG.md, and says
// which major tag to move; the workflow does the rest.
//
// A release is made by a commit: the one that moves the Unreleased entries of CHANGELOG.md under
// a new version and sets package.json's version. When it reaches main on GitHub, the release
// workflow (--push) sees a version with no tag yet, runs the checks and tests, tags that commit
// vX.Y.Z, creates the GitHub release and moves vX. A push of a version already tagged does nothing.
//
//   node scripts/release-notes.ts --dry-run [--tags-file FILE]
//       the newest version in CHANGELOG.md: checks it and prints what a release would do, and
//       what the workflow would do on a push to main (the tags: FILE, else this clone's)
//   node scripts/release-notes.ts --push --tags-file FILE [--notes-file FILE] [--github-output FILE]
//       a push to main: release=false when package.json's version is tagged already; otherwise
//       release=true and the outputs below for the tag vVERSION
//   node scripts/release-notes.ts --tag v1.2.3 [--tags-file FILE] [--notes-file FILE] [--github-output FILE] [--dry-run]
//       --tags-file     the repository's existing tags, one a line (`git tag -l 'v*'`): the major
//                       tag moves only when no newer vX.*.* exists (a fix to an older line)
//       --notes-file    where to write the release notes (markdown)
//       --github-output append tag=, version=, major=, move-major= lines (the step's outputs)
//
// Checks: the tag is vX.Y.Z (no prerelease, no leading zeros); CHANGELOG.md is in the Keep a
// Changelog format (`## [Unreleased]`, then `## [X.Y.Z] - YYYY-MM-DD` newest first, `### Added`
// and the other five kinds of change) and has a non-empty section for that version; package.json's
// version is that version.
import { execFileSync } from 'node:child_process';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

export class ReleaseError extends Error {}

export interface Version {
  major: number;
  minor: number;
  patch: number;
}

const TAG = /^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$/;

/** A version tag, vX.Y.Z; throws a ReleaseError naming what is wrong. */
export function parseTag(tag: string): Version {
  const m = TAG.exec(tag);
  if (!m) {
    throw new ReleaseError(`'${tag}' is not a version tag: use vMAJOR.MINOR.PATCH, e.g. v1.2.3 (no prerelease or build suffix, no leading zeros)`);
  }
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]) };
}

export const versionText = (v: Version) => `${v.major}.${v.minor}.${v.patch}`;

export function compareVersions(a: Version, b: Version): number {
  return a.major - b.major || a.minor - b.minor || a.patch - b.patch;
}

/** The moving major tag of a version tag: v1.4.2 -> v1. */
export function majorTag(tag: string): string {
  return `v${parseTag(tag).major}`;
}

/**
 * Whether the major tag should point at `tag`: not when the repository already has a newer
 * version of the same major (a fix released for an older minor line). Tags that are not vX.Y.Z
 * (the major tags themselves, anything else) are ignored.
 */
export function shouldMoveMajor(tag: string, existing: readonly string[]): boolean {
  const v = parseTag(tag);
  return !existing.some((t) => {
    if (!TAG.test(t.trim())) return false;
    const o = parseTag(t.trim());
    return o.major === v.major && compareVersions(o, v) > 0;
  });
}

export interface Section {
  /** 'Unreleased' or X.Y.Z */
  version: string;
  date?: string;
  /** the section's text under its heading, trimmed */
  body: string;
  line: number;
}

const KINDS = ['Added', 'Changed', 'Deprecated', 'Removed', 'Fixed', 'Security'];
const HEADING = /^## \[(Unreleased|(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)\.(?:0|[1-9]\d*))\](?: - (\d{4}-\d{2}-\d{2}))?\s*$/;

/**
 * The sections of a changelog in the Keep a Changelog format, in file order; throws a
 * ReleaseError for anything that breaks the format (a stray `## ` heading, a version without a
 * date, an unknown kind of change, versions not newest first, a version listed twice).
 */
export function parseChangelog(text: string): Section[] {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  const sections: (Section & { lines: string[] })[] = [];
  let fence = false;
  lines.forEach((l, i) => {
    if (/^(```|~~~)/.test(l)) fence = !fence;
    if (fence) {
      sections.at(-1)?.lines.push(l);
      return;
    }
    if (l.startsWith('## ')) {
      const m = HEADING.exec(l);
      if (!m) throw new ReleaseError(`CHANGELOG.md line ${i + 1}: '${l}' is not '## [Unreleased]' or '## [X.Y.Z] - YYYY-MM-DD'`);
      if (m[1] !== 'Unreleased' && !m[2]) throw new ReleaseError(`CHANGELOG.md line ${i + 1}: version ${m[1]} has no date ('## [${m[1]}] - YYYY-MM-DD')`);
      if (m[1] === 'Unreleased' && m[2]) throw new ReleaseError(`CHANGELOG.md line ${i + 1}: the Unreleased section has no date`);
      if (m[2] && Number.isNaN(Date.parse(`${m[2]}T00:00:00Z`))) throw new ReleaseError(`CHANGELOG.md line ${i + 1}: '${m[2]}' is not a date`);
      sections.push({ version: m[1], date: m[2], body: '', line: i + 1, lines: [] });
      return;
    }
    if (l.startsWith('### ') && sections.length > 0 && !KINDS.includes(l.slice(4).trim())) {
      throw new ReleaseError(`CHANGELOG.md line ${i + 1}: '${l}': the kinds of change are ${KINDS.join(', ')}`);
    }
    sections.at(-1)?.lines.push(l);
  });
  if (sections.length === 0) throw new ReleaseError('CHANGELOG.md has no section: expected ## [Unreleased] and ## [X.Y.Z] - YYYY-MM-DD headings');
  const last = sections.at(-1)!;
  // Link reference definitions at the end ([1.0.0]: https://...) belong to no section.
  while (last.lines.length > 0 && (/^\[[^\]]+\]:\s*\S+/.test(last.lines.at(-1)!) || last.lines.at(-1)!.trim() === '')) last.lines.pop();
  const released = sections.filter((s) => s.version !== 'Unreleased');
  if (sections.findIndex((s) => s.version === 'Unreleased') > 0) throw new ReleaseError('CHANGELOG.md: the Unreleased section must come first');
  for (let i = 1; i < released.length; i++) {
    const [newer, older] = [parseTag(`v${released[i - 1].version}`), parseTag(`v${released[i].version}`)];
    if (compareVersions(newer, older) === 0) throw new ReleaseError(`CHANGELOG.md: version ${released[i].version} is listed twice (lines ${released[i - 1].line} and ${released[i].line})`);
    if (compareVersions(newer, older) < 0) throw new ReleaseError(`CHANGELOG.md: versions must be newest first, but ${released[i].version} (line ${released[i].line}) comes after ${released[i - 1].version}`);
  }
  return sections.map(({ lines: ls, ...s }) => ({ ...s, body: ls.join('\n').trim() }));
}

/** The notes of one version: its changelog section's text. */
export function notesFor(changelog: string, version: string): string {
  const s = parseChangelog(changelog).find((x) => x.version === version);
  if (!s) throw new ReleaseError(`CHANGELOG.md has no section for ${version}: add '## [${version}] - YYYY-MM-DD' (move the Unreleased entries under it)`);
  if (s.body === '') throw new ReleaseError(`CHANGELOG.md's section for ${version} (line ${s.line}) is empty`);
  return s.body;
}

export interface ReleasePlan {
  tag: string;
  version: string;
  date: string;
  major: string;
  moveMajor: boolean;
  notes: string;
}

/**
 * What a release of `tag` does; without a tag, of the newest version in the changelog. Checks
 * the tag, the changelog and package.json's version together.
 */
export function planRelease(o: { tag?: string; changelog: string; packageVersion: string; tags?: readonly string[] }): ReleasePlan {
  const sections = parseChangelog(o.changelog);
  let tag = o.tag;
  if (tag === undefined) {
    const newest = sections.find((s) => s.version !== 'Unreleased');
    if (!newest) throw new ReleaseError('CHANGELOG.md has no released version yet');
    tag = `v${newest.version}`;
  }
  const version = versionText(parseTag(tag));
  const notes = notesFor(o.changelog, version);
  if (o.packageVersion !== version) {
    throw new ReleaseError(`package.json's version is ${o.packageVersion}, the tag says ${version}: run \`npm version ${version} --no-git-tag-version\` and commit it before tagging`);
  }
  return {
    tag,
    version,
    date: sections.find((s) => s.version === version)!.date!,
    major: majorTag(tag),
    moveMajor: shouldMoveMajor(tag, o.tags ?? []),
    notes,
  };
}

export type PushDecision = { release: false; tag: string; why: string } | { release: true; plan: ReleasePlan };

/**
 * What the release workflow does on a push to main: nothing when package.json's version is tagged
 * already; else that version is released (its tag, notes and major tag, checked as for a tag push).
 */
export function pushRelease(o: { changelog: string; packageVersion: string; tags: readonly string[] }): PushDecision {
  const tag = `v${o.packageVersion}`;
  parseTag(tag);
  if (o.tags.some((t) => t.trim() === tag)) return { release: false, tag, why: `${tag} is tagged already: nothing to release (a release is a commit that moves CHANGELOG.md's Unreleased entries under a new version and sets package.json's version)` };
  return { release: true, plan: planRelease({ tag, changelog: o.changelog, packageVersion: o.packageVersion, tags: o.tags }) };
}

/** This clone's version tags (`git tag -l 'v*'`); [] where git cannot say. */
function localTags(): string[] {
  try {
    return execFileSync('git', ['tag', '-l', 'v*'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n').map((t) => t.trim()).filter(Boolean);
  } catch {
    return [];
  }
}

const outputsOf = (p: ReleasePlan) => `tag=${p.tag}\nversion=${p.version}\nmajor=${p.major}\nmove-major=${p.moveMajor}\n`;

function main(): void {
  const { values } = parseArgs({
    options: {
      tag: { type: 'string' },
      'tags-file': { type: 'string' },
      'notes-file': { type: 'string' },
      'github-output': { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
      push: { type: 'boolean', default: false },
    },
  });
  const dry = values['dry-run'];
  const tag = values.tag?.trim() || undefined;
  if (values.push && (tag || dry)) throw new ReleaseError('--push decides the tag itself (package.json\'s version), and is never a dry run');
  if (!tag && !dry && !values.push) throw new ReleaseError('--tag vX.Y.Z is required (only a --dry-run may take the newest version in CHANGELOG.md, and --push package.json\'s)');
  if (values.push && !values['tags-file']) throw new ReleaseError('--push needs --tags-file: whether the version is tagged already decides everything');
  const tags = values['tags-file'] ? readFileSync(values['tags-file'], 'utf8').split('\n').map((t) => t.trim()).filter(Boolean) : [];
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
  const changelog = readFileSync('CHANGELOG.md', 'utf8');
  if (values.push) {
    const d = pushRelease({ changelog, packageVersion: pkg.version, tags });
    if (!d.release) {
      if (values['github-output']) appendFileSync(values['github-output'], `release=false\ntag=${d.tag}\n`);
      console.log(d.why);
      return;
    }
    const p = d.plan;
    if (values['notes-file']) writeFileSync(values['notes-file'], `${p.notes}\n`);
    if (values['github-output']) appendFileSync(values['github-output'], `release=true\n${outputsOf(p)}`);
    console.log(`${p.tag} (${p.date}) is not tagged yet: the release workflow tags this commit ${p.tag} once the checks and tests pass, creates the GitHub release with the notes below, and ${p.moveMajor ? `points ${p.major} at it` : `leaves ${p.major} where it is`}`);
    console.log(`\n${p.notes}\n`);
    return;
  }
  const p = planRelease({ tag, changelog, packageVersion: pkg.version, tags });
  if (values['notes-file']) writeFileSync(values['notes-file'], `${p.notes}\n`);
  if (values['github-output']) appendFileSync(values['github-output'], `release=true\n${outputsOf(p)}`);
  const newer = tags.filter((t) => TAG.test(t) && parseTag(t).major === parseTag(p.tag).major && compareVersions(parseTag(t), parseTag(p.tag)) > 0);
  const would = dry ? 'dry run, nothing is created: a release would' : 'the release will';
  console.log(`${p.tag} (${p.date}): ${would} create the GitHub release ${p.tag} with the notes below, and ${p.moveMajor ? `point ${p.major} at ${p.tag}` : `leave ${p.major} where it is (newer: ${newer.join(', ')})`}`);
  if (dry && !tag) {
    // What a push of this commit to main would do, with the tags given or this clone's.
    const known = values['tags-file'] ? tags : localTags();
    const d = pushRelease({ changelog, packageVersion: pkg.version, tags: known });
    const where = `tags ${values['tags-file'] ? 'in the file' : 'in this clone'}: ${known.length ? known.join(', ') : 'none'}`;
    console.log(
      d.release
        ? `On a push to main (${where}): ${d.plan.tag} is not tagged yet, so the release workflow would tag the pushed commit ${d.plan.tag}, release it${d.plan.moveMajor ? ` and point ${d.plan.major} at it` : ''}.`
        : `On a push to main (${where}): ${d.why}.`,
    );
  }
  console.log(`\n${p.notes}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    main();
  } catch (e) {
    if (!(e instanceof ReleaseError)) throw e;
    console.error(`release-notes: ${e.message}`);
    process.exit(1);
  }
}
