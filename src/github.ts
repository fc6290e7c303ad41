// Glue to the GitHub Actions runner shared by the main and post steps.
import * as core from '@actions/core';
import type { Ui } from './strategies/deployrun.ts';
import { stateText } from './strategies/state.ts';
import { type Config, readConfig } from './config/inputs.ts';

export function actionsUi(): Ui {
  return {
    info: (m) => core.info(m),
    warn: (m) => core.warning(m),
    debug: (m) => core.debug(m),
    group: (title, fn) => core.group(title, fn),
    saveState: (s) => core.saveState('recovery', stateText(s)),
  };
}

/** Masks the key and passphrase (line by line too, since the runner matches single lines). */
export function maskSecrets(): void {
  for (const name of ['ssh-key', 'ssh-key-passphrase']) {
    const v = core.getInput(name);
    if (!v) continue;
    core.setSecret(v);
    for (const line of v.split(/\r?\n/)) {
      const t = line.trim();
      if (t.length >= 8 && !t.startsWith('-----')) core.setSecret(t);
    }
  }
}

/** The validated config from the step's inputs, read untrimmed (env values keep their spaces). */
export function readInputs(): Config {
  return readConfig((n) => core.getInput(n, { trimWhitespace: false }));
}
