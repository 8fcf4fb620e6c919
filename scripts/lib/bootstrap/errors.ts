/** A bootstrap step found a state it must not act on; the message says what and `hint` what to do next. */
export class BootstrapError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(hint ? `${message}\n  next: ${hint}` : message);
    this.name = 'BootstrapError';
  }
}
