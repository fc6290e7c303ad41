import { test } from 'node:test';
import assert from 'node:assert/strict';
import { failedHost, failedStepOf, failureOutcome, hostsInvolved, trafficMoved } from '../../src/strategies/outcome.ts';
import type { UndoEntry } from '../../src/strategies/journal.ts';
import { DeployError, InputError } from '../../src/errors.ts';

const nginx = { host: '10.0.0.2', port: 22 };
const app = { host: '10.0.0.5', port: 22 };
const started: UndoEntry = { kind: 'started', app, port: 8081, pid: 42 };
const include = (mayServe?: boolean): UndoEntry => ({ kind: 'include', hosts: [{ nginx, path: '/etc/nginx/app.inc', loadedAs: '/etc/nginx/app.inc', before: 'a', after: 'b', ...(mayServe === undefined ? {} : { mayServe }) }] });

test('outcome of a failed run: before the switch, rolled back, or a human must look', () => {
  assert.equal(failureOutcome({ committed: false, journal: [] }), 'failed-before-switch', 'nothing changed');
  assert.equal(failureOutcome({ committed: false, journal: [started] }), 'failed-before-switch', 'a new process started and stopped again: no request reached it');
  assert.equal(failureOutcome({ committed: false, journal: [started, include(false)] }), 'failed-before-switch', 'nginx -t refused the include: nginx never ran it');
  assert.equal(failureOutcome({ committed: false, journal: [started, include()] }), 'rolled-back', 'a switch whose outcome is unknown counts as moved');
  assert.equal(failureOutcome({ committed: false, journal: [started, include(true)] }), 'rolled-back');
  assert.equal(failureOutcome({ committed: false, journal: [started, include(true)], rollbackProblem: 'could not restore' }), 'manual-action-needed');
  assert.equal(failureOutcome({ committed: true, journal: [started, include(true)] }), 'manual-action-needed', 'failed after the point of no return');
  assert.equal(trafficMoved([include(false), include(true)]), true);
});

test('failed step and host, and the hosts involved', () => {
  const e = new DeployError('switch', 'nginx host 10.0.0.2:22', 'nginx -t failed');
  assert.equal(failedHost(e), '10.0.0.2:22');
  assert.equal(failedHost(new DeployError('verify', 'https://shop.example/health', 'x')), 'https://shop.example/health');
  assert.equal(failedHost(new Error('x')), '');
  assert.equal(failedStepOf(e, 'Switch nginx to port 8081'), 'Switch nginx to port 8081', "the summary's step");
  assert.equal(failedStepOf(e, undefined), 'switch', "outside any step: the error's");
  assert.equal(failedStepOf(new InputError('ports', 'bad'), undefined), 'inputs');
  assert.deepEqual(hostsInvolved([started, include(true)], '10.0.0.9:22'), ['10.0.0.9:22', '10.0.0.5:22', '10.0.0.2:22']);
  assert.deepEqual(hostsInvolved([started, started], 'https://shop.example/'), ['10.0.0.5:22'], 'a URL is no host');
});
