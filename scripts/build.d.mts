// Types of what build.mjs exports (its unit test bundles ssh2 with the same plugin).
import type { Plugin } from 'esbuild';
export declare const ssh2Client: Plugin;
export declare function bundle(outdir?: string): Promise<void>;
