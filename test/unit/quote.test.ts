import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { quote, join, script, splitWords } from '../../src/util/quote.ts';

// The real shell is the oracle: whatever we quote must come back byte for byte.
function echoBack(argv: string[]): string[] {
  const out = execFileSync('sh', ['-c', `${join(['printf', '%s\\0', ...argv])}`]).toString();
  return out.split('\0').slice(0, -1);
}

const nasty = ['plain', '', ' ', "it's", '"dq"', '$(touch /tmp/pwned)', '`id`', 'a;b', 'a && b', '*', '~', '\\', '\n', 'x\ny', '$HOME', "'", "''", '-n', '{port}', 'ü ñ 日本'];

test('quote: every value survives the shell unchanged', () => {
  assert.deepEqual(echoBack(nasty), nasty);
});

test('quote: plain words stay readable', () => {
  assert.equal(quote('abc-1.2/x'), 'abc-1.2/x');
  assert.equal(quote(''), "''");
  assert.equal(quote("a'b"), `'a'\\''b'`);
});

test('script: positional arguments reach the script as data', () => {
  const out = execFileSync('sh', ['-c', script('printf "%s|" "$@"', nasty.slice(0, 8))]).toString();
  assert.equal(out, nasty.slice(0, 8).map((s) => `${s}|`).join(''));
});

test('splitWords: quotes group words, nothing is expanded', () => {
  assert.deepEqual(splitWords(`-Xmx512m -Dname="a b" -Dq='c  d' plain`), ['-Xmx512m', '-Dname=a b', '-Dq=c  d', 'plain']);
  assert.deepEqual(splitWords(`$(rm -rf /) \`id\` $HOME a;b`), ['$(rm', '-rf', '/)', '`id`', '$HOME', 'a;b']);
  assert.deepEqual(splitWords(`"x\\"y" a\\ b '' ""`), ['x"y', 'a b', '', '']);
  assert.deepEqual(splitWords('  \n '), []);
  assert.deepEqual(splitWords(`"it's"`), ["it's"]);
});

test('splitWords agrees with sh on quoting (without expansion characters)', () => {
  const inputs = [`a "b c" 'd e' f\\ g`, `"x'y" 'p"q' -D"k=v w"`, `--a=1   --b="" x`];
  for (const s of inputs) {
    const viaSh = execFileSync('sh', ['-c', `printf '%s\\0' ${s}`]).toString().split('\0').slice(0, -1);
    assert.deepEqual(splitWords(s), viaSh, s);
  }
});

test('splitWords: unterminated quotes are errors', () => {
  assert.throws(() => splitWords(`"abc`), /unterminated double quote/);
  assert.throws(() => splitWords(`'abc`), /unterminated single quote/);
  assert.throws(() => splitWords(`abc\\`), /trailing backslash/);
});
