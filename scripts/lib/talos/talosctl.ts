// talosctl basics every Talos module builds on: the per-node target (`at`), version reads, and the parsers of its
// two output forms (JSON resource streams, tabwriter tables). Pure functions, no I/O.
//
// Every authenticated command names its endpoint and node explicitly (-e IP -n IP): the VIP must never be a talosctl
// endpoint, and before etcd exists a control plane cannot proxy to other nodes.

/** "v1.11.6" → "v1.11": the form `--talos-version` documents (config compatibility level). */
export function talosMinor(version: string): string {
  const m = /^v?(\d+)\.(\d+)/.exec(version);
  if (!m) throw new Error(`not a Talos version: ${version}`);
  return `v${m[1]}.${m[2]}`;
}

/** talosctl aimed at one node through its own apid: `talosctl --endpoints IP --nodes IP`. */
export function at(ip: string): string[] {
  return ['talosctl', '--endpoints', ip, '--nodes', ip];
}

export function clientVersionArgv(): string[] {
  return ['talosctl', 'version', '--client', '--short'];
}

/** `talosctl get … -o json` prints one indented JSON object per resource, back to back (not an array). */
export function parseResourceStream(stdout: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  let escaped = false;
  for (let i = 0; i < stdout.length; i++) {
    const ch = stdout[i];
    if (inString) {
      if (escaped) escaped = false;
      else if (ch === '\\') escaped = true;
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') inString = true;
    else if (ch === '{') {
      if (depth === 0) start = i;
      depth++;
    } else if (ch === '}') {
      depth--;
      if (depth === 0 && start >= 0) {
        out.push(JSON.parse(stdout.slice(start, i + 1)) as Record<string, unknown>);
        start = -1;
      }
    }
  }
  return out;
}

export function parseClientVersion(stdout: string): string | undefined {
  return /\bv\d+\.\d+\.\d+[^\s]*/.exec(stdout)?.[0];
}

export function versionArgv(ip: string): string[] {
  return [...at(ip), 'version'];
}

/** A new UUID after every boot: proof that a node really rebooted (an upgrade to the same version changes no version). */
export function bootIdArgv(ip: string): string[] {
  return [...at(ip), 'read', '/proc/sys/kernel/random/boot_id'];
}

/** Splits a tabwriter table (two or more spaces or tabs between columns) into header names and rows. */
export function table(stdout: string): { header: string[]; rows: string[][] } {
  const lines = stdout.split('\n').filter((l) => l.trim());
  const split = (l: string) => l.trim().split(/\t+|\s{2,}/).map((c) => c.trim());
  const [first, ...rest] = lines;
  if (!first) return { header: [], rows: [] };
  return { header: split(first), rows: rest.map(split) };
}

/**
 * Rows of a tabwriter table after the first line `isHeader` accepts (none without one), cut at the header's column
 * offsets: tabwriter pads every column to the width of its widest cell, so a header name starts where its column
 * starts — cells with single spaces ("4.5 MB (100.00%)") stay whole, empty cells stay empty.
 */
export function columns(stdout: string, isHeader: (line: string) => boolean): Record<string, string>[] {
  const lines = stdout.split('\n').filter((l) => l.trim());
  const headerAt = lines.findIndex(isHeader);
  if (headerAt < 0) return [];
  const header = lines[headerAt]!;
  const starts: { name: string; at: number }[] = [];
  const re = /\S+(?: \S+)*/g;
  for (let m = re.exec(header); m; m = re.exec(header)) starts.push({ name: m[0], at: m.index });
  return lines.slice(headerAt + 1).map((line) =>
    Object.fromEntries(starts.map((c, i) => [c.name, line.slice(c.at, starts[i + 1]?.at ?? line.length).trim()])),
  );
}

/** `talosctl version` prints a Client: block and, per node, a Server: block with `Tag:`; the first server tag. */
export function parseServerVersion(stdout: string): string | undefined {
  const server = stdout.split(/^Server:\s*$/m)[1];
  return server ? /^\s*Tag:\s*(\S+)/m.exec(server)?.[1] : undefined;
}
