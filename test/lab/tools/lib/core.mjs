// Shared plumbing of the lab's fake executables: state file under a lock, call log, latency and command faults,
// argument parsing. Plain Node ESM (no tsx) so a fake costs one Node startup. See test/lab/README.md.
import fs from 'node:fs';
import path from 'node:path';
import { advance } from './world.mjs';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const sab = new Int32Array(new SharedArrayBuffer(4));
export function sleepSync(ms) {
  Atomics.wait(sab, 0, 0, ms);
}

/** Thrown by handlers to end the command with an exit code (stderr already written or given here). */
export class ToolExit extends Error {
  constructor(code, stderr = '', stdout = '') {
    super(stderr || `exit ${code}`);
    this.code = code;
    this.stderr = stderr;
    this.stdout = stdout;
  }
}
export const fail = (stderr, code = 1) => {
  throw new ToolExit(code, stderr.endsWith('\n') || stderr === '' ? stderr : `${stderr}\n`);
};

// ---------------------------------------------------------------------------------------------------------------
// Files

export function labDir(env = process.env) {
  const dir = env.LAB_DIR;
  if (!dir) throw new ToolExit(70, 'lab: LAB_DIR is not set; the fakes in test/lab/bin only run inside a lab (see test/lab/README.md)\n');
  return dir;
}

export function readJson(file, fallback) {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    if (e.code === 'ENOENT' && fallback !== undefined) return fallback;
    throw e;
  }
}

export function writeJsonAtomic(file, value) {
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(value, null, 1));
  fs.renameSync(tmp, file);
}

export function loadLab(dir = labDir()) {
  return readJson(path.join(dir, 'lab.json'));
}

export function emptyState() {
  return {
    version: 1,
    seq: 0,
    faults: [],
    nodes: {},
    etcd: { cluster: null, bootstraps: [], splitBrain: false },
    k8s: { objects: {}, nodes: {}, rv: 1 },
    helm: { releases: {}, repos: {} },
    flux: null,
    terraform: { layers: {} },
    events: [],
  };
}

export function loadState(dir = labDir()) {
  return readJson(path.join(dir, 'state.json'), emptyState());
}

/** A mkdir lock: atomic on every local filesystem; a lock left by a dead process is broken. */
export function lock(dir) {
  const l = path.join(dir, 'lock.d');
  const started = Date.now();
  for (let i = 0; ; i++) {
    try {
      fs.mkdirSync(l);
      try {
        fs.writeFileSync(path.join(l, 'pid'), String(process.pid));
      } catch {
        /* the lock is held either way */
      }
      return () => fs.rmSync(l, { recursive: true, force: true });
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
    }
    if (i % 50 === 49) {
      let owner = NaN;
      try {
        owner = Number(fs.readFileSync(path.join(l, 'pid'), 'utf8'));
      } catch {
        /* being created or removed */
      }
      let alive = true;
      if (owner) {
        try {
          process.kill(owner, 0);
        } catch (e) {
          alive = e.code === 'EPERM';
        }
      }
      if (!alive || Date.now() - started > 30000) fs.rmSync(l, { recursive: true, force: true });
    }
    sleepSync(1 + Math.random() * 3);
  }
}

/**
 * Read-modify-write of the world under the lock. `fn(state, lab, now)` mutates state; time-based transitions up to
 * `now` are applied first (world.advance), so every handler sees the world as of now.
 */
export function transact(fn, dir = labDir()) {
  const release = lock(dir);
  try {
    const lab = loadLab(dir);
    const st = loadState(dir);
    const now = Date.now();
    advance(st, lab, now);
    const result = fn(st, lab, now);
    writeJsonAtomic(path.join(dir, 'state.json'), st);
    return result;
  } finally {
    release();
  }
}

/** Consistent read without writing (state.json is replaced by rename, never half-written). */
export function snapshot(dir = labDir()) {
  const lab = loadLab(dir);
  const st = loadState(dir);
  const now = Date.now();
  advance(st, lab, now);
  return { st, lab, now };
}

// ---------------------------------------------------------------------------------------------------------------
// Latency and command faults

/** Longest configured key that is a word-prefix of cmd ("talosctl apply-config" matches "talosctl apply-config"). */
export function prefixMatch(key, cmd) {
  return cmd === key || cmd.startsWith(`${key} `);
}

export function latencyFor(latency, cmd) {
  let best = -1;
  let ms = 0;
  for (const [k, v] of Object.entries(latency ?? {})) {
    if (prefixMatch(k, cmd) && k.length > best) {
      best = k.length;
      ms = Number(v) || 0;
    }
  }
  return ms;
}

/** Finds the command fault that applies to this call and counts it (under the lock). */
export function takeCommandFault(st, cmd, nodes) {
  for (const f of st.faults) {
    if (f.kind !== 'command' || !prefixMatch(f.cmd, cmd)) continue;
    if (f.node && !nodes.includes(f.node)) continue;
    f.seen = (f.seen ?? 0) + 1;
    if (f.seen <= (f.skip ?? 0)) continue;
    const times = f.times ?? Infinity;
    if ((f.used ?? 0) >= times) continue;
    f.used = (f.used ?? 0) + 1;
    return { ...f };
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Argument parsing (cobra/pflag-like: --flag=v, --flag v, -f v, bool flags with optional =true/false)

/**
 * spec: { name: { short?, type: 'bool'|'string'|'slice'|'array' } }; slice splits on commas (StringSlice), array
 * does not (StringArray). Returns { flags, positionals, unknown }.
 */
export function parseArgs(argv, spec) {
  const byShort = {};
  for (const [name, s] of Object.entries(spec)) if (s.short) byShort[s.short] = name;
  const flags = {};
  const positionals = [];
  const unknown = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    let name;
    let value;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
      if (eq >= 0) value = a.slice(eq + 1);
    } else if (a.startsWith('-') && a.length > 1 && !/^-\d/.test(a)) {
      const short = a[1];
      name = byShort[short];
      if (!name) {
        unknown.push(a);
        continue;
      }
      if (a.length > 2) value = a[2] === '=' ? a.slice(3) : a.slice(2);
    } else {
      positionals.push(a);
      continue;
    }
    const s = spec[name];
    if (!s) {
      unknown.push(a.split('=')[0]);
      continue;
    }
    if (s.type === 'bool') {
      flags[name] = value === undefined ? true : !/^(false|0)$/i.test(value);
      continue;
    }
    if (value === undefined) {
      if (i + 1 >= argv.length) {
        unknown.push(`${a} (needs an argument)`);
        continue;
      }
      value = argv[++i];
    }
    if (s.type === 'slice') flags[name] = [...(flags[name] ?? []), ...value.split(',').filter(Boolean)];
    else if (s.type === 'array') flags[name] = [...(flags[name] ?? []), value];
    else flags[name] = value;
  }
  return { flags, positionals, unknown };
}

/** Go duration ("10m", "1m30s", "500ms", "5m0s") → ms. */
export function parseDuration(text, fallback) {
  if (text === undefined || text === '') return fallback;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  let total = 0;
  const re = /(\d+(?:\.\d+)?)(ms|h|m|s)/g;
  let m;
  let matched = '';
  while ((m = re.exec(text))) {
    matched += m[0];
    total += Number(m[1]) * { ms: 1, s: 1000, m: 60000, h: 3600000 }[m[2]];
  }
  return matched === text ? total : fallback;
}

/** How long a fake really waits when the product asks for `requestedMs`: capped by the lab's waitCapMs. */
export function waitBudget(lab, requestedMs) {
  return Math.min(requestedMs, lab.timings.waitCapMs ?? requestedMs);
}

// ---------------------------------------------------------------------------------------------------------------
// Running a fake

let stdinCache;
/** Reads stdin once; resolves '' after `timeoutMs` if nothing arrives and the stream stays open. */
export function readStdin(timeoutMs = 2000) {
  if (stdinCache) return stdinCache;
  stdinCache = new Promise((resolve) => {
    if (process.stdin.isTTY) return resolve('');
    const chunks = [];
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      process.stdin.pause();
      process.stdin.unref?.();
      resolve(Buffer.concat(chunks).toString('utf8'));
    };
    const timer = setTimeout(finish, timeoutMs);
    process.stdin.on('data', (c) => chunks.push(c));
    process.stdin.on('end', finish);
    process.stdin.on('error', finish);
  });
  return stdinCache;
}

/**
 * The common entry point of every fake. `handler(argv, io)` returns { cmd, nodes?, run: async () => exitCode }:
 * cmd names the command for latency/fault matching and the call log ("talosctl apply-config").
 */
export async function main(tool, handler) {
  const argv = process.argv.slice(2);
  const start = Date.now();
  const out = [];
  const err = [];
  const io = {
    out: (t) => out.push(t),
    err: (t) => err.push(t),
  };
  let code = 0;
  let cmd = tool;
  let dir;
  let stdinBytes = 0;
  try {
    dir = labDir();
    const plan = await handler(argv, io);
    cmd = plan.cmd ? `${tool} ${plan.cmd}` : tool;
    const lab = loadLab(dir);
    // Only take the lock when a command fault could apply (most calls have none).
    const mayFault = !plan.noFaults && loadState(dir).faults.some((f) => f.kind === 'command' && prefixMatch(f.cmd, cmd));
    const fault = mayFault ? transact((st) => takeCommandFault(st, cmd, plan.nodes ?? []), dir) : undefined;
    const delay = latencyFor(lab.latencyMs, cmd) + (fault?.latencyMs ?? 0);
    if (delay > 0) await sleep(delay);
    if (fault && fault.exitCode !== undefined && fault.exitCode !== 0) {
      if (fault.stdout) io.out(fault.stdout);
      io.err(fault.stderr ?? `lab: injected failure of "${cmd}"\n`);
      code = fault.exitCode;
    } else {
      code = (await plan.run()) ?? 0;
    }
  } catch (e) {
    if (e instanceof ToolExit) {
      if (e.stdout) io.out(e.stdout);
      if (e.stderr) io.err(e.stderr);
      code = e.code;
    } else {
      io.err(`lab: internal error in fake ${tool}: ${e?.stack ?? e}\n`);
      code = 70;
    }
  }
  if (stdinCache) stdinBytes = Buffer.byteLength(await stdinCache);
  const stdout = out.join('');
  const stderr = err.join('');
  if (stdout) process.stdout.write(stdout);
  if (stderr) process.stderr.write(stderr);
  if (dir) {
    const entry = {
      tool,
      cmd,
      argv,
      envKeys: Object.keys(process.env).sort(),
      cwd: process.cwd(),
      stdinBytes,
      start,
      end: Date.now(),
      exitCode: code,
      pid: process.pid,
      ...(code !== 0 ? { error: stderr.trim().split('\n').filter(Boolean).slice(-1)[0] ?? '' } : {}),
    };
    try {
      fs.appendFileSync(path.join(dir, 'calls.jsonl'), `${JSON.stringify(entry)}\n`);
    } catch {
      /* the lab may have been cleaned up under us */
    }
  }
  process.exitCode = code;
}

// ---------------------------------------------------------------------------------------------------------------
// Small shared helpers

/** helm's and flux's uitable look: cells padded to the column width, separated by a tab. */
export function tabbed(rows) {
  const widths = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, String(c).length)));
  return `${rows.map((r) => r.map((c, i) => String(c).padEnd(widths[i])).join('\t').trimEnd()).join('\n')}\n`;
}

/** A column table like Go's tabwriter with padding 3 (talosctl, kubectl use this look). */
export function table(rows, pad = 3) {
  const widths = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, String(c).length)));
  return rows
    .map((r) => r.map((c, i) => (i === r.length - 1 ? String(c) : String(c).padEnd(widths[i] + pad))).join('').trimEnd())
    .join('\n') + '\n';
}

export function age(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

let yamlModule;
/** The `yaml` package, loaded only by commands that need it (it costs ~40 ms). */
export async function yaml() {
  yamlModule ??= await import('yaml');
  return yamlModule;
}
