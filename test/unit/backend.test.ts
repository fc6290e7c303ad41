import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { readConfig } from '../../src/config/inputs.ts';
import { OpContext } from '../../src/run/context.ts';
import { chooseBackend } from '../../src/fleet/backends.ts';
import type { PortState } from '../../src/commands/app.ts';
import { actionDefaults } from '../action-defaults.ts';

const key = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
const base: Record<string, string> = {
  'nginx-host': '203.0.113.10',
  'app-hosts': '10.0.1.5',
  'ssh-user': 'deploy',
  'ssh-key': key,
  'known-hosts': 'h ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl',
  artifact: 'app.jar',
};
const ui = { info: () => undefined, warn: () => undefined, group: <T>(_: string, fn: () => Promise<T>) => fn(), saveState: () => undefined };
const backendFor = (over: Record<string, string> = {}) => chooseBackend(new OpContext(readConfig((n) => ({ ...actionDefaults(), ...base, ...over })[n] ?? ''), ui));
const cmd = { java: 'java', javaOpts: ['-Xmx1g'], appArgs: ['--x={port}'], env: [] as [string, string][] };
const held = (unit?: string): PortState => ({ free: false, pid: 42, unit }) as PortState;

test('without systemd-unit: a detached process, logging to a file, stopped by its pid; any unit on a port is refused', () => {
  const b = backendFor({ sudo: 'true' });
  assert.equal(b.kind, 'process');
  assert.equal(b.of(undefined), b);
  assert.equal(b.of('process'), b);
  const s = b.releaseStart('r1', 8081, cmd);
  assert.deepEqual(s, { cwd: '/opt/app/releases/r1', argv: ['java', '-Dserver.port=8081', '-Xmx1g', '-jar', '/opt/app/releases/r1/app.jar', '--x=8081'], env: [], log: { file: '/opt/app/logs/r1.8081.log' } });
  assert.deepEqual(b.pidOptions(5), { sudo: true, timeoutSec: 5 }, "another user's process goes through sudo -n sh -c");
  assert.equal(b.unitOf({ unit: 'shop.service' }, true), undefined);
  assert.equal(b.ownInstance(undefined, 8081), undefined);
  assert.throws(() => b.refuseUnit({ remote: { label: 'app' } } as never, 8081, held('shop.service'), 'upload and start'), /belongs to the systemd unit shop\.service; .*Set systemd-unit: NAME/);
  assert.equal(b.unitNames([8080, 8081]), undefined);
  assert.equal(b.takesOverUnits, false);
  assert.deepEqual(b.restartLog(8081, { saved: '/opt/app/run/8081.previous', log: '/opt/app/logs/previous.8081.log' }), { file: '/opt/app/logs/previous.8081.log' });
  assert.match(b.notes()[0], /^Logs: \/opt\/app\/logs\/RELEASE\.PORT\.log, capped at 100 MiB/);
  assert.equal(backendFor({ 'ssh-user': 'root' }).overlapOomScoreAdj(), 500);
  assert.equal(b.overlapOomScoreAdj(), 0, 'only root can put a raised OOM score back');
});

test('systemd-unit: NAME: each release is NAME@PORT.service, logging to its journal; a process that is no unit is stopped by its pid without sudo', () => {
  const b = backendFor({ 'systemd-unit': 'shop', sudo: 'true', 'ssh-user': 'root' });
  assert.equal(b.kind, 'unit');
  assert.equal(b.of('unit'), b);
  assert.equal(b.of(undefined).kind, 'process', 'an old process that ran detached is started detached again');
  assert.deepEqual(b.releaseStart('r1', 8081, cmd).log, { unit: 'shop@8081.service' });
  assert.deepEqual(b.pidOptions(5), { sudo: false, timeoutSec: 5 });
  assert.equal(b.overlapOomScoreAdj(), 0, 'systemd starts the unit');
  assert.deepEqual(b.unitOf({ unit: 'shop.service' }, true), { name: 'shop.service', disable: true });
  assert.deepEqual(b.ownInstance(undefined, 8081), { name: 'shop@8081.service', disable: false });
  assert.deepEqual(b.ownInstance({ unit: 'shop@8081.service' }, 8081), { name: 'shop@8081.service', disable: false });
  assert.equal(b.ownInstance({ unit: 'shop.service' }, 8081), undefined);
  b.refuseUnit({ remote: { label: 'app' } } as never, 8081, held('shop@8081.service'), 'upload and start');
  b.refuseUnit({ remote: { label: 'app' } } as never, 8080, held('shop.service'), 'upload and start', true);
  assert.throws(() => b.refuseUnit({ remote: { label: 'app' } } as never, 8081, held('other.service'), 'upload and start'), /held by pid 42 of the systemd unit other\.service/);
  assert.equal(b.tookOver({ name: 'shop.service', disable: true }, 8080), 'shop.service');
  assert.equal(b.tookOver({ name: 'shop@8080.service', disable: true }, 8080), undefined);
  assert.deepEqual(b.unitNames([8081, 8080, 8081]), ['shop@8081.service', 'shop@8080.service']);
  assert.equal(b.takesOverUnits, true);
  assert.deepEqual(b.notes(), [], 'the logs are the journal');
  // A unit instance a rollback starts again logs to its journal: a failed health check shows it.
  assert.deepEqual(b.restartLog(8081, { backend: 'unit', release: 'r1' }), { unit: 'shop@8081.service' });
  assert.deepEqual(b.restartLog(8081, { backend: 'process', saved: '/opt/app/run/8081.previous', log: '/opt/app/logs/previous.8081.log' }), { file: '/opt/app/logs/previous.8081.log' });
});
