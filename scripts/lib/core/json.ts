// JSON printed by a command (`--output-format json`, `-o json`), parsed with an error that names the command and shows
// the start of what it printed.

export class JsonOutputError extends Error {
  override name = 'JsonOutputError';
}

type ErrorClass = new (message: string) => Error;

function parse(stdout: string, what: string, Err: ErrorClass): unknown {
  const text = stdout.trim();
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new Err(`cannot parse the JSON of ${what}: ${text.slice(0, 200)}`);
  }
}

/** A listing: empty output (or `null`, a Go nil slice) is the empty list; anything but a JSON array is an error. */
export function parseJsonList(stdout: string, what: string, Err: ErrorClass = JsonOutputError): Record<string, unknown>[] {
  const text = stdout.trim();
  if (text === '' || text === 'null') return [];
  const data = parse(text, what, Err);
  if (!Array.isArray(data)) throw new Err(`${what} did not print a JSON list`);
  return data as Record<string, unknown>[];
}

/** One JSON object (a config, a Kubernetes List); anything else is an error. */
export function parseJsonObject(stdout: string, what: string, Err: ErrorClass = JsonOutputError): Record<string, unknown> {
  const data = parse(stdout, what, Err);
  if (data === null || typeof data !== 'object' || Array.isArray(data)) throw new Err(`${what} did not print a JSON object`);
  return data as Record<string, unknown>;
}
