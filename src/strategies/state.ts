// The recovery state as the runner keeps it between the main and the post step. It is saved to
// GITHUB_STATE and given to the post step as one environment variable, which Linux caps at
// 128 KiB: a rolling deploy over 40 instances journals 80 include texts that differ in a line
// each, so the JSON is brotli-compressed (its window spans the whole journal) and base64-encoded.
// Nothing secret is in it: how old processes were started stays on their hosts (journal.ts).
import { brotliCompressSync, brotliDecompressSync, constants } from 'node:zlib';
import type { RecoveryState } from './deployrun.ts';

const PREFIX = 'br1:';

/**
 * What a finished run saves instead of its state: nothing is left to undo or unlock, and the post
 * step sees that without decoding anything (post.ts then loads nothing else).
 */
export const FINISHED = 'finished';

/** The state text a run saves: FINISHED once it is done. */
export function stateText(s: RecoveryState): string {
  return s.done ? FINISHED : encodeState(s);
}

/** Whether the post step has anything to do with the saved state text. Pure. */
export function postNeeded(raw: string | undefined): boolean {
  return raw !== undefined && raw !== '' && raw !== FINISHED;
}

export function encodeState(s: RecoveryState): string {
  const json = Buffer.from(JSON.stringify(s));
  const packed = brotliCompressSync(json, { params: { [constants.BROTLI_PARAM_QUALITY]: 5, [constants.BROTLI_PARAM_LGWIN]: 22, [constants.BROTLI_PARAM_SIZE_HINT]: json.length } });
  return PREFIX + packed.toString('base64');
}

export function decodeState(text: string): RecoveryState {
  if (!text.startsWith(PREFIX)) throw new Error(`the saved recovery state is not in this version's format (starts '${text.slice(0, 8)}')`);
  return JSON.parse(brotliDecompressSync(Buffer.from(text.slice(PREFIX.length), 'base64')).toString('utf8')) as RecoveryState;
}
