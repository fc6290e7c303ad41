import { test } from 'node:test';
import assert from 'node:assert/strict';
import { othersUntilOf } from '../../src/traffic/lock.ts';
import { readsStillValid as freshEarly, takeRead as take, type LockReads as Early } from '../../src/fleet/lockreads.ts';
import type { AppNode } from '../../src/fleet/node.ts';
import type { DeployLocks as Ctx } from '../../src/traffic/lock.ts';

const now = 1_000_000;

test('othersUntilOf: a lock free at once in a quiet remote-dir vouches for what was read before it; waiting or a takeover vouches for nothing', () => {
  assert.equal(othersUntilOf('acquired 100', 0, now), now - 99_000);
  // Changed within the last second (a deploy just unlocked): anything read before now may be stale.
  assert.equal(othersUntilOf('acquired 0', 0, now), now + 1000);
  assert.equal(othersUntilOf('acquired 1', 0, now), now);
  // Found held, then free: the holder was changing the hosts while we read them.
  assert.equal(othersUntilOf('acquired 100', 1, now), now + 1000);
  assert.equal(othersUntilOf('recovered 4000 run=A', 0, now), now + 1000);
  // remote-dir made by this lock: no deploy was ever here.
  assert.equal(othersUntilOf('acquired', 0, now), -Infinity);
});

test('freshEarly: the early reads count only when sent after the last moment another deploy could act; take hands each out once', () => {
  const early = (sentAt: number): Early => ({ sentAt, ports: new Map(), preflight: Promise.resolve('p') });
  const app = { early: early(now - 2000) } as unknown as AppNode;
  const ctx = (othersUntil: number) => ({ othersUntil }) as unknown as Ctx;
  // Before the locks are taken nothing is fresh.
  assert.equal(freshEarly(ctx(Infinity), app), undefined);
  assert.equal(freshEarly(ctx(othersUntilOf('acquired 100', 0, now)), app), app.early);
  assert.equal(freshEarly(ctx(othersUntilOf('acquired 2', 0, now)), app), undefined, 'quiet for 2 s (whole seconds): the unlock may have come after the reads were sent, 2 s ago');
  assert.equal(freshEarly(ctx(othersUntilOf('acquired 4', 0, now)), app), app.early);
  assert.ok(take(app, 'preflight'));
  assert.equal(take(app, 'preflight'), undefined);
  assert.equal(take({} as AppNode, 'upload'), undefined);
});
