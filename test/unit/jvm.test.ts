// The heap a JVM may take, from its options (src/config/jvm.ts), and the preflight's memory line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jvmSizeBytes, maxHeap } from '../../src/config/jvm.ts';
import { parseAppPreflight } from '../../src/commands/preflight.ts';

const G = 1024 ** 3;

test('HotSpot sizes', () => {
  assert.equal(jvmSizeBytes('512m'), 512 * 1024 ** 2);
  assert.equal(jvmSizeBytes('4G'), 4 * G);
  assert.equal(jvmSizeBytes('1048576'), 1048576);
  assert.equal(jvmSizeBytes('2t'), 2 * 1024 ** 4);
  assert.equal(jvmSizeBytes('1.5g'), undefined);
  assert.equal(jvmSizeBytes('lots'), undefined);
});

test('the maximum heap: -Xmx or MaxHeapSize (the last wins), else MaxRAMPercentage, else a quarter of the RAM', () => {
  assert.deepEqual(maxHeap([], [], 8 * G), { bytes: 2 * G, from: "the JVM's default, 25 % of the host's RAM (no -Xmx in java-opts)" });
  assert.deepEqual(maxHeap(['-Xmx1g', '-XX:MaxHeapSize=3g'], [], 8 * G), { bytes: 3 * G, from: '-XX:MaxHeapSize=3g in java-opts' });
  assert.deepEqual(maxHeap(['-XX:MaxRAMPercentage=75', '-Xms1g'], [], 8 * G), { bytes: 6 * G, from: '-XX:MaxRAMPercentage=75 in java-opts' });
  assert.deepEqual(maxHeap(['-XX:MaxRAMPercentage=50', '-Xmx512m'], [], 8 * G), { bytes: 512 * 1024 ** 2, from: '-Xmx512m in java-opts' }, '-Xmx wins over a percentage');
  assert.equal(maxHeap(['-XX:MaxRAM=4g'], [], 8 * G).bytes, G);
  // JAVA_TOOL_OPTIONS and JDK_JAVA_OPTIONS count; the command line wins over them
  assert.deepEqual(maxHeap([], [['JAVA_TOOL_OPTIONS', '-Dx=1 -Xmx6g']], 8 * G), { bytes: 6 * G, from: '-Xmx6g in JAVA_TOOL_OPTIONS in env' });
  assert.equal(maxHeap(['-Xmx1g'], [['JAVA_TOOL_OPTIONS', '-Xmx6g']], 8 * G).bytes, G);
});

test("the preflight reads the host's MemTotal and MemAvailable", () => {
  const p = parseAppPreflight('path=/usr/bin\njava=/usr/bin/java\nmissing=\navail-kb=100\nwritable=yes\nmem-kb=24683784 22908544\n');
  assert.equal(p.memTotalBytes, 24683784 * 1024);
  assert.equal(p.memAvailBytes, 22908544 * 1024);
  const none = parseAppPreflight('path=/usr/bin\nwritable=yes\nmem-kb=\n');
  assert.equal(none.memAvailBytes, undefined);
});
