// Shell quoting and word splitting. Pure functions, no I/O.
//
// Every remote command this action runs is a fixed script plus arguments that pass
// through `quote`, so no input is ever pasted into shell syntax.

/** Quote one value for a POSIX shell: the result is always exactly that one word. */
export function quote(value: string): string {
  if (value === '') return "''";
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(value)) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** Quote each word and join them with spaces: a command line that runs argv as given. */
export function join(argv: readonly string[]): string {
  return argv.map(quote).join(' ');
}

/**
 * `sh -c '<script>' sh arg1 arg2 ...`: runs a fixed script with positional parameters.
 * The script is a constant of this program; the arguments are data.
 */
export function script(body: string, args: readonly (string | number)[] = []): string {
  return join(['sh', '-c', body, 'sh', ...args.map(String)]);
}

export class WordSplitError extends Error {}

/**
 * Split a string into words the way a POSIX shell does, without expanding anything:
 * whitespace separates words, single quotes keep everything literally, double quotes keep
 * everything but let a backslash escape `"`, `\`, `$` and a backquote, and an unquoted
 * backslash keeps the next character. `$`, backquotes, globs, `;`, `|` and `&` are plain
 * characters here: nothing is ever expanded or executed.
 */
export function splitWords(input: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let i = 0;
  while (i < input.length) {
    const c = input[i];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      i++;
    } else if (c === "'") {
      const end = input.indexOf("'", i + 1);
      if (end < 0) throw new WordSplitError(`unterminated single quote at character ${i + 1}`);
      word += input.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (c === '"') {
      inWord = true;
      i++;
      let closed = false;
      while (i < input.length) {
        const d = input[i];
        if (d === '"') {
          closed = true;
          i++;
          break;
        }
        if (d === '\\' && i + 1 < input.length && '"\\$`\n'.includes(input[i + 1])) {
          if (input[i + 1] !== '\n') word += input[i + 1];
          i += 2;
          continue;
        }
        word += d;
        i++;
      }
      if (!closed) throw new WordSplitError('unterminated double quote');
    } else if (c === '\\') {
      if (i + 1 >= input.length) throw new WordSplitError('trailing backslash');
      if (input[i + 1] !== '\n') {
        word += input[i + 1];
        inWord = true;
      }
      i += 2;
    } else {
      word += c;
      inWord = true;
      i++;
    }
  }
  if (inWord) words.push(word);
  return words;
}
