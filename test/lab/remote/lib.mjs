// Shared plumbing of the remote fakes (headscale, pveum, pvesm, pvesh) that the tests put on the PATH of their real
// sshd sessions (sshd_config `SetEnv PATH=…/test/lab/remote/bin:… LAB_REMOTE_DIR=…`). Plain Node ESM: one Node start
// per call. State lives in LAB_REMOTE_DIR (JSON files under a mkdir lock); every call is appended to calls.jsonl;
// faults.json holds injected faults; config.json holds latencies. See test/lab/remote/README.md.
import fs from 'node:fs';
import path from 'node:path';

// The same process plumbing as the local fakes: one definition of exits, sync sleep and atomic JSON files.
import { ToolExit, fail, lock, readJson, sleepSync, writeJsonAtomic as writeJson } from '../tools/lib/core.mjs';

export { ToolExit, fail, sleepSync };

export function remoteDir() {
  const dir = process.env.LAB_REMOTE_DIR;
  if (!dir) {
    process.stderr.write('lab: LAB_REMOTE_DIR is not set (the remote fakes run only in the test sshd sessions)\n');
    process.exit(70);
  }
  return dir;
}

/** Runs fn under the directory's lock: the local fakes' mkdir lock (core.mjs lock; a dead holder's lock is broken). */
export function withLock(dir, fn) {
  const release = lock(dir);
  try {
    return fn();
  } finally {
    release();
  }
}

/** A Proxmox host with only root@pam and the two default storages (proxmox.json before any test seeds it). */
export function emptyProxmox() {
  return {
    roles: {},
    users: { 'root@pam': { enable: 1, expire: 0, tokens: {} } },
    acl: [],
    storages: { local: { volumes: [] }, 'local-lvm': { volumes: [] } },
    vms: {},
  };
}

export function loadState(dir, name, fallback) {
  return readJson(path.join(dir, `${name}.json`), fallback);
}
export function saveState(dir, name, state) {
  writeJson(path.join(dir, `${name}.json`), state);
}

/**
 * Applies the first matching fault (faults.json: [{ cmd: 'pveum user token add', exitCode, stderr, stdout, times,
 * skip, hangMs }]); `cmd` matches as a prefix of "tool arg arg…". Returns the fault (already counted) or undefined.
 */
function takeFault(dir, line) {
  const file = path.join(dir, 'faults.json');
  // Most calls match no fault: read without the lock, and count under it only when one may fire.
  if (!readJson(file, []).some((f) => line.startsWith(f.cmd))) return undefined;
  return withLock(dir, () => {
    const faults = readJson(file, []);
    for (const f of faults) {
      if (!line.startsWith(f.cmd)) continue;
      f.seen = (f.seen ?? 0) + 1;
      if (f.skip && f.seen <= f.skip) continue;
      if (f.times !== undefined && (f.fired ?? 0) >= f.times) continue;
      f.fired = (f.fired ?? 0) + 1;
      writeJson(file, faults);
      return f;
    }
    writeJson(file, faults);
    return undefined;
  });
}

/** The entry point of every fake: latency, faults, the handler, the call log, the exit code. */
export function main(tool, handler) {
  const dir = remoteDir();
  const args = process.argv.slice(2);
  const line = [tool, ...args].join(' ');
  const start = Date.now();
  const config = readJson(path.join(dir, 'config.json'), {});
  const latency = Object.entries(config.latencyMs ?? {}).find(([prefix]) => line.startsWith(prefix))?.[1] ?? config.defaultLatencyMs ?? 0;
  let code = 0;
  let out = '';
  let err = '';
  try {
    if (latency) sleepSync(latency);
    const fault = takeFault(dir, line);
    if (fault?.hangMs) sleepSync(fault.hangMs); // a bounded hang, so a timed-out call does not linger
    if (fault && (fault.exitCode !== undefined || fault.stderr !== undefined)) {
      throw new ToolExit(fault.exitCode ?? 1, fault.stderr ? `${fault.stderr.replace(/\n$/, '')}\n` : '', fault.stdout ?? '');
    }
    out = handler(args, dir) ?? '';
  } catch (e) {
    if (!(e instanceof ToolExit)) {
      code = 70;
      err = `lab fake ${tool} crashed: ${e.stack ?? e}\n`;
    } else {
      code = e.code;
      err = e.stderr;
      out = e.stdout;
    }
  }
  if (out) process.stdout.write(out);
  if (err) process.stderr.write(err);
  fs.appendFileSync(
    path.join(dir, 'calls.jsonl'),
    JSON.stringify({ tool, argv: args, line, start, end: Date.now(), exitCode: code, ...(code ? { error: err.split('\n')[0] } : {}) }) + '\n',
  );
  process.exitCode = code;
}

/**
 * Splits argv into positionals and options. `spec` maps option names (without dashes) to 'string' | 'bool' and
 * aliases: { output: 'string', o: 'output', force: 'bool' }. Accepts --name value, --name=value, -n value, -nvalue and,
 * for single-dash long names (Proxmox style), -name value. Unknown options → ToolExit from `unknown(name)`.
 */
export function parseArgs(argv, spec, unknown) {
  const opts = {};
  const pos = [];
  const resolve = (n) => (typeof spec[n] === 'string' && spec[spec[n]] ? spec[n] : n);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      pos.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith('-') || a === '-') {
      pos.push(a);
      continue;
    }
    let name = a.replace(/^--?/, '');
    let value;
    const eq = name.indexOf('=');
    if (eq >= 0) {
      value = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    if (!a.startsWith('--') && name.length > 1 && spec[name] === undefined && spec[name[0]] !== undefined) {
      value = name.slice(1); // -ojson
      name = name[0];
    }
    const key = resolve(name);
    const type = spec[key];
    if (type === undefined || (type !== 'string' && type !== 'bool')) throw unknown(name, a);
    if (type === 'bool') {
      opts[key] = value === undefined ? true : !['0', 'false'].includes(value);
      continue;
    }
    if (value === undefined) {
      if (i + 1 >= argv.length) throw unknown(name, a, 'needs an argument');
      value = argv[++i];
    }
    opts[key] = value;
  }
  return { opts, pos };
}
