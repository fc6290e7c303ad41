// Errors that carry what a user needs to act: which input, or which host and step.

/** A bad input value. Raised before any server is touched. */
export class InputError extends Error {
  readonly input: string;
  constructor(input: string, message: string) {
    super(`input '${input}': ${message}`);
    this.name = 'InputError';
    this.input = input;
  }
}

/** A failure during the deploy, tied to the host and step where it happened. */
export class DeployError extends Error {
  readonly step: string;
  readonly host: string | undefined;
  /** what went wrong, without the step and host: for a message that wraps it */
  readonly detail: string;
  constructor(step: string, host: string | undefined, cause: string) {
    super(`[${step}]${host ? ` ${host}:` : ''} ${cause}`);
    this.name = 'DeployError';
    this.step = step;
    this.host = host;
    this.detail = cause;
  }
}

/** What went wrong, without a DeployError's step and host (another error's message). */
export function detailText(err: unknown): string {
  return err instanceof DeployError ? err.detail : errorText(err);
}

export function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
