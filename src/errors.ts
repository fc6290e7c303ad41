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
  constructor(step: string, host: string | undefined, cause: string) {
    super(`[${step}]${host ? ` ${host}:` : ''} ${cause}`);
    this.name = 'DeployError';
    this.step = step;
    this.host = host;
  }
}

export function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
