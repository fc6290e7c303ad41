// The defaults action.yml declares: the GitHub runner fills them in for inputs a step does not
// give, so tests that run the action (or read its inputs) must do the same.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const ACTION_YML = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../action.yml');

export function actionDefaults(): Record<string, string> {
  const doc = parse(readFileSync(ACTION_YML, 'utf8')) as { inputs: Record<string, { default?: string }> };
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(doc.inputs)) if (v.default !== undefined) out[k] = String(v.default);
  return out;
}
