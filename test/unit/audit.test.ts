import { test } from 'node:test';
import assert from 'node:assert/strict';
import { previousRelease, servingRelease, type AuditEntry } from '../../src/traffic/audit.ts';
import { summaryMarkdown } from '../../src/summary.ts';

const e = (release: string, previous?: string, over: Partial<AuditEntry> = {}): AuditEntry => ({
  time: '2026-12-01T00:00:00Z', actor: 'a', repository: 'r', run: '-', mode: 'deploy', strategy: 'blue-green', release, previous, from: '-', to: '-', result: 'ok', duration_s: 1, ...over,
});

test('rollback never picks the release that serves, also when the live port\'s record is stale (its write failed)', () => {
  const log = [e('A'), e('B', 'A'), e('C', 'B')];
  assert.equal(previousRelease(log, 'C'), 'B');
  // C's record on the live port could not be written: the port still says A (two deploys ago).
  assert.equal(servingRelease(log), 'C');
  assert.notEqual(previousRelease(log, 'A'), 'C');
  assert.equal(previousRelease(log, 'A'), 'B');
  // No record at all: the audit's last switch is still excluded.
  assert.equal(previousRelease(log, undefined), 'B');
  // Failed runs and bad releases are skipped.
  assert.equal(previousRelease([...log, e('D', 'C', { result: 'failed' })], 'C'), 'B');
  assert.equal(previousRelease([...log, e('B', 'C', { mode: 'rollback', bad: 'C' })], 'B'), 'A');
});

test('the summary says what the clean-up could not do', () => {
  const md = summaryMarkdown({
    strategy: 'blue-green', release: 'r1', activePorts: [8081], previousPorts: [8080], durationMs: 1000, timings: [], instances: [], nginxHosts: ['n'], headline: 'ok.',
    cleanupProblems: ['app1: could not record r1 on port 8081 (exit code 1: disk full)'],
  });
  assert.match(md, /\*\*Clean-up incomplete\*\* \(the new version serves\):\n\n- app1: could not record r1 on port 8081/);
});

test("teamUnitPort: the port a team's unit served on, from the audit line of the deploy that took it over", async () => {
  const { teamUnitPort } = await import('../../src/strategies/rollback.ts');
  const line = (over: Partial<AuditEntry>): AuditEntry => ({ time: 't', actor: 'a', repository: 'r', run: 'u', mode: 'deploy', strategy: 'blue-green', release: 'x', from: '-', to: '-', result: 'ok', duration_s: 1, ...over });
  const history = [
    line({ release: 's1', previous: 'unit:shop.service', from: 'port 8080', to: 'port 8081' }),
    line({ release: 's2', previous: 's1', from: 'port 8081', to: 'port 8080' }),
    line({ release: 's3', previous: 'unit:shop.service', from: 'port 9090', result: 'rolled back' }),
  ];
  assert.equal(teamUnitPort(history, 'unit:shop.service'), 8080, 'a failed run is no takeover');
  assert.equal(teamUnitPort(history, 'unit:other.service'), undefined);
});
