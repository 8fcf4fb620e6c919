// One registry of secret values for the whole process: every line the logger or the runner prints passes through
// redact(), so a token that reaches an error message or a command's output is still never shown.
const secrets = new Set<string>();

/** Registers a secret value; values shorter than 4 characters are ignored (they would mask ordinary text). */
export function registerSecret(value: string | undefined | null): void {
  if (value && value.length >= 4) secrets.add(value);
}

export function clearSecrets(): void {
  secrets.clear();
}

export const REDACTED = '<redacted>';

export function redact(text: string): string {
  let out = text;
  // Longest first, so a secret that contains another is replaced whole.
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
    if (out.includes(secret)) out = out.split(secret).join(REDACTED);
  }
  return out;
}
