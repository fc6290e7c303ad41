// The framing of the connection's one shell (session.ts, commands/sh/shell/mux.sh), pure: the
// script a job runs, and the reader that splits the dispatcher's stdout at its headers.
import type { Cmd } from '../commands/shell.ts';

/**
 * Splits the dispatcher's stdout at its headers (`\n<nonce> ` and the rest of that line). Pure:
 * onBytes gets what lies between headers, onHeader each header's words.
 */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);
  private readonly marker: Buffer;
  constructor(nonce: string) {
    this.marker = Buffer.from(`\n${nonce} `);
  }

  push(chunk: Buffer, onBytes: (b: Buffer) => void, onHeader: (words: string[]) => void): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    for (;;) {
      const i = this.buf.indexOf(this.marker);
      if (i < 0) {
        // Hand on all but what could be the start of a header.
        const keep = Math.min(this.buf.length, this.marker.length - 1);
        if (this.buf.length > keep) {
          onBytes(this.buf.subarray(0, this.buf.length - keep));
          this.buf = this.buf.subarray(this.buf.length - keep);
        }
        return;
      }
      const nl = this.buf.indexOf(10, i + this.marker.length);
      if (nl < 0) {
        if (i > 0) {
          onBytes(this.buf.subarray(0, i));
          this.buf = this.buf.subarray(i);
        }
        return;
      }
      if (i > 0) onBytes(this.buf.subarray(0, i));
      const words = this.buf.subarray(i + this.marker.length, nl).toString('utf8').split(' ');
      this.buf = this.buf.subarray(nl + 1);
      onHeader(words);
    }
  }
}

/** The script a job runs: the command line; with keep, its stdout also kept in the shell. Pure. */
export function jobScript(cmd: Pick<Cmd, 'line' | 'keep'>): string {
  if (!cmd.keep) return `${cmd.line}\n`;
  // keep: its stdout, byte for byte (the x guards trailing newlines), stays in the lane's shell
  // as $_zdd_prev for the command sent right behind it there (shell.ts withPrevious).
  return `_zdd_prev=$( { ${cmd.line}\n}; _zdd_rc=$?; echo x; exit "$_zdd_rc" )\n_zdd_rc=$?; _zdd_prev=\${_zdd_prev%x}; printf %s "$_zdd_prev"; (exit "$_zdd_rc")\n`;
}
