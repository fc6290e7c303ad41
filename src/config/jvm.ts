// How much heap a JVM may take, read from its options the way HotSpot reads them. Pure.

/** A HotSpot size (`512m`, `4g`, `1048576`, `2T`) in bytes; undefined when it is not one. */
export function jvmSizeBytes(text: string): number | undefined {
  const m = /^(\d+)([kKmMgGtT]?)$/.exec(text);
  if (!m) return undefined;
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2].toLowerCase()]!;
  return Number(m[1]) * unit;
}

export interface MaxHeap {
  bytes: number;
  /** where it comes from, in words: `-Xmx4g in java-opts`, `the JVM's default, 25 % of the host's RAM` */
  from: string;
}

/**
 * The most heap a JVM started with these options may take on a host with totalBytes of RAM:
 * -Xmx or -XX:MaxHeapSize (the last one wins, as in HotSpot), else -XX:MaxRAMPercentage of the RAM
 * (or of -XX:MaxRAM), else HotSpot's default, 25 % of it. JAVA_TOOL_OPTIONS and JDK_JAVA_OPTIONS
 * in env count too, before java-opts (the command line wins).
 */
export function maxHeap(javaOpts: string[], env: [string, string][], totalBytes: number): MaxHeap {
  const fromEnv = (k: string) => (env.filter(([n]) => n === k).pop()?.[1] ?? '').split(/\s+/).filter(Boolean).map((w) => [w, `${k} in env`] as const);
  const words = [...fromEnv('JAVA_TOOL_OPTIONS'), ...fromEnv('JDK_JAVA_OPTIONS'), ...javaOpts.map((w) => [w, 'java-opts'] as const)];
  let xmx: MaxHeap | undefined;
  let pct: { value: number; from: string; word: string } | undefined;
  let ram = totalBytes;
  for (const [w, where] of words) {
    const x = /^-Xmx(.+)$/.exec(w) ?? /^-XX:MaxHeapSize=(.+)$/.exec(w);
    const b = x && jvmSizeBytes(x[1]);
    if (b) xmx = { bytes: b, from: `${w} in ${where}` };
    const p = /^-XX:MaxRAMPercentage=(\d+(?:\.\d+)?)$/.exec(w);
    if (p) pct = { value: Number(p[1]), from: where, word: w };
    const r = /^-XX:MaxRAM=(.+)$/.exec(w);
    const rb = r && jvmSizeBytes(r[1]);
    if (rb) ram = Math.min(totalBytes, rb);
  }
  if (xmx) return xmx;
  if (pct) return { bytes: Math.floor((ram * pct.value) / 100), from: `${pct.word} in ${pct.from}` };
  return { bytes: Math.floor(ram / 4), from: "the JVM's default, 25 % of the host's RAM (no -Xmx in java-opts)" };
}

export const gib = (b: number) => `${(b / 1024 ** 3).toFixed(1)} GiB`;
