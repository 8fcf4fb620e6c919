import { execFile, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parse } from 'yaml';
import { executeScript, nearestOption, strayWordMessage, type OptionSpec, type ScriptSpec } from '../../scripts/lib/core/cli.ts';
import { REPO_ROOT } from '../../scripts/lib/core/paths.ts';
import { ConfigError, readConfigFile } from '../../scripts/lib/config/load.ts';
import { powerDnsSyncScript } from '../../scripts/lib/powerdns/script.ts';
import { deleteCsiToken } from '../../scripts/lib/proxmox/csi-token.ts';
import { config, makeContext } from '../integrations/harness.ts';

// One command-line convention for every entry script in scripts/ (scripts/lib/core/cli.ts): the usage line names the
// task, every --help has exit codes and examples, nodes are chosen one way, confirmation is the cluster's name (never
// --yes), and mistakes at the edges (a stray word, a typo of a flag, a directory as --config, a closed pipe, a --root
// that is no checkout) get a short answer in our words with the right exit code.

const exec = promisify(execFile);
const TSX = join(REPO_ROOT, 'node_modules', '.bin', 'tsx');
const SCRIPTS = readdirSync(join(REPO_ROOT, 'scripts')).filter((f) => f.endsWith('.ts')).map((f) => f.replace(/\.ts$/, ''));

/** task name → script it runs, from Taskfile.yml and its includes (namespace:task). */
function taskTargets(): Map<string, string[]> {
  const byScript = new Map<string, string[]>();
  const root = parse(readFileSync(join(REPO_ROOT, 'Taskfile.yml'), 'utf8')) as { includes: Record<string, string>; tasks: Record<string, { cmds?: string[] }> };
  const files: [string, Record<string, { cmds?: string[] }>][] = [['', root.tasks]];
  for (const [ns, file] of Object.entries(root.includes)) {
    files.push([`${ns}:`, (parse(readFileSync(join(REPO_ROOT, file), 'utf8')) as { tasks: Record<string, { cmds?: string[] }> }).tasks]);
  }
  for (const [prefix, tasks] of files) {
    for (const [name, t] of Object.entries(tasks)) {
      for (const cmd of t.cmds ?? []) {
        const m = /scripts\/([\w-]+)\.ts/.exec(cmd);
        if (m) byScript.set(m[1]!, [...(byScript.get(m[1]!) ?? []), `${prefix}${name}`]);
      }
    }
  }
  return byScript;
}

async function help(name: string): Promise<string> {
  const r = await exec(TSX, [join(REPO_ROOT, 'scripts', `${name}.ts`), '--help'], { cwd: REPO_ROOT, timeout: 60_000 });
  return r.stdout;
}

test('every entry script: task usage line, exit codes, examples, one spelling for nodes and confirmation', async () => {
  assert.ok(SCRIPTS.length >= 14, `only ${SCRIPTS.length} scripts found`);
  const tasks = taskTargets();
  const problems: string[] = [];
  // Two at a time: the machine is shared.
  const texts = new Map<string, string>();
  for (let i = 0; i < SCRIPTS.length; i += 2) {
    const pair = SCRIPTS.slice(i, i + 2);
    const out = await Promise.all(pair.map(help));
    pair.forEach((n, j) => texts.set(n, out[j]!));
  }
  for (const name of SCRIPTS) {
    const h = texts.get(name)!;
    const say = (what: string) => problems.push(`${name}: ${what}`);
    if (!h.startsWith(`${name} — `)) say('help does not start with "<name> — <summary>"');
    const usage = /^usage: task (\S+) -- /m.exec(h);
    if (!usage) say('no "usage: task <name> -- …" line');
    else if (!(tasks.get(name) ?? []).includes(usage[1]!)) say(`usage names task ${usage[1]}, which does not run scripts/${name}.ts (tasks: ${tasks.get(name)?.join(', ') ?? 'none'})`);
    const codes = /^ *exit codes: (.*)$/m.exec(h)?.[1] ?? '';
    if (!/\b0 /.test(codes) || !/\b2 usage/.test(codes) || !/\b3 config/.test(codes)) say(`exit codes line missing or incomplete: "${codes}"`);
    const examples = h.split('\n').slice(h.split('\n').findIndex((l) => /^examples:/.test(l.trim())) + 1);
    if (!/^examples:/m.test(h) || !/^ {2}task \S+/.test(examples[0] ?? '')) say('no "examples:" with a `task …` line under it');
    for (const m of h.matchAll(/--(nodes?) (\S+)/g)) {
      if (m[1] === 'nodes' && m[2] !== 'N[,N]' && !/^[a-z0-9-]+(,[a-z0-9-]+)*$/.test(m[2]!)) say(`--nodes takes N[,N], got ${m[2]}`);
      if (m[1] === 'node' && m[2] === 'N[,N]') say('--node takes one NAME; a set is --nodes N[,N]');
    }
    if (/(^|\s)(--yes|-y,)/m.test(h)) say('offers --yes: confirmation is --confirm NAME');
    for (const m of h.matchAll(/--confirm (\S+)/g)) if (m[1] === 'CLUSTER') say('--confirm takes NAME (the cluster name)');
  }
  assert.equal(problems, []);
});

const spec: ScriptSpec<Record<string, OptionSpec>> = {
  name: 'demo',
  task: 'demo',
  summary: 'a demo script',
  options: {
    only: { type: 'string', value: 'PHASE', choices: ['talos', 'cni'], help: 'one phase' },
    nodes: { type: 'string', multiple: true, value: 'N[,N]', aliases: ['node'], help: 'nodes' },
  },
  async run(ctx) {
    seen = ctx.opts.nodes as string[] | undefined;
    ctx.log.info('ran');
    return 0;
  },
};
let seen: string[] | undefined;

async function captured(argv: string[], s = spec): Promise<{ code: number; err: string }> {
  const write = process.stderr.write.bind(process.stderr);
  let err = '';
  process.stderr.write = ((chunk: string) => ((err += chunk), true)) as typeof process.stderr.write;
  try {
    return { code: await executeScript(s, argv), err };
  } finally {
    process.stderr.write = write;
  }
}

function withStateDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'cli-'));
  const prev = process.env.HOME_OPS_STATE_DIR;
  process.env.HOME_OPS_STATE_DIR = dir;
  return fn(dir).finally(() => {
    if (prev === undefined) delete process.env.HOME_OPS_STATE_DIR;
    else process.env.HOME_OPS_STATE_DIR = prev;
    rmSync(dir, { recursive: true, force: true });
  });
}

test('a typo of a flag: exit 2, "did you mean", and not the whole help', async () => {
  const r = await captured(['--dryrun']);
  assert.is(r.code, 2);
  assert.match(r.err, 'demo: unknown option --dryrun; did you mean --dry-run?');
  assert.not.match(r.err, 'options:');
  assert.is(nearestOption('--lg-level', ['log-level', 'help']), 'log-level');
  assert.is(nearestOption('--zzzzzz', ['log-level', 'help']), undefined);
});

test('a stray word is rejected (exit 2) and the flag it belongs to is suggested', async () => {
  const r = await captured(['talos']);
  assert.is(r.code, 2);
  assert.match(r.err, 'unexpected argument "talos": this script takes no positional arguments; did you mean --only talos?');
  assert.match(strayWordMessage('dry-run', { 'dry-run': { type: 'boolean', help: '' } }), 'did you mean --dry-run?');
});

test('an old spelling (alias) is accepted as the one in --help', async () => {
  await withStateDir(async () => {
    const r = await captured(['--node', 'a', '--nodes=b', '--dry-run', '--config', join(REPO_ROOT, 'cluster.example.yaml')]);
    assert.is(r.code, 0, r.err);
    assert.equal(seen, ['a', 'b']);
  });
});

test('--config naming a directory or an unreadable file is a config error (exit 3) that names the path', async () => {
  await withStateDir(async (dir) => {
    const r = await captured(['--config', dir]);
    assert.is(r.code, 3);
    // The path as the user would type it from where they stand (relative below the working directory).
    const shown = /(\S+) is a directory/.exec(r.err)?.[1];
    assert.is(shown && resolve(shown), dir, r.err);
    assert.not.match(r.err, 'EISDIR');
    // Root reads any file, so the permission error is also checked with a read that fails as the kernel's would.
    const denied = () => {
      throw Object.assign(new Error("EACCES: permission denied, open 'x.yaml'"), { code: 'EACCES' });
    };
    const example = join(REPO_ROOT, 'cluster.example.yaml');
    assert.throws(() => readConfigFile(example, 'x.yaml', denied), (e: unknown) => e instanceof ConfigError && /x\.yaml cannot be read \(permission denied\); make it readable/.test((e as Error).message));
    if (process.getuid?.() !== 0) {
      const file = join(dir, 'locked.yaml');
      writeFileSync(file, readFileSync(join(REPO_ROOT, 'cluster.example.yaml')));
      chmodSync(file, 0);
      const locked = await captured(['--config', file]);
      assert.is(locked.code, 3);
      assert.match(locked.err, /locked\.yaml cannot be read \(permission denied\)/);
    }
  });
});

test('a dry-run writes no log file to the state directory; a real run does', async () => {
  await withStateDir(async (dir) => {
    const example = join(REPO_ROOT, 'cluster.example.yaml');
    assert.is((await captured(['--dry-run', '--config', example])).code, 0);
    assert.not.ok(existsSync(join(dir, 'infra', 'logs')), 'dry-run wrote a log directory');
    assert.is((await captured(['--config', example])).code, 0);
    assert.is(readdirSync(join(dir, 'infra', 'logs')).length, 1);
  });
});

test('--root that is not a checkout: validate and ownership exit 2 naming the path', async () => {
  for (const name of ['validate', 'ownership']) {
    const r = await exec(TSX, [join(REPO_ROOT, 'scripts', `${name}.ts`), '--root', '/nonexistent', '--config', join(REPO_ROOT, 'cluster.example.yaml')], { cwd: REPO_ROOT, timeout: 60_000, env: { ...process.env, HOME_OPS_STATE_DIR: mkdtempSync(join(tmpdir(), 'cli-')) } }).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => e,
    );
    assert.is(r.code, 2, `${name} --root /nonexistent`);
    assert.match(r.stderr, '--root /nonexistent: /nonexistent does not exist');
  }
});

test('a reader that goes away (| head -1) ends the script quietly', async () => {
  const child = spawn(TSX, [join(REPO_ROOT, 'scripts', 'bootstrap.ts'), '--dry-run', '--config', join(REPO_ROOT, 'cluster.example.yaml')], {
    cwd: REPO_ROOT,
    env: { ...process.env, HOME_OPS_STATE_DIR: mkdtempSync(join(tmpdir(), 'cli-')) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  // Read the first chunk, then close the pipe, as `head -1` does.
  await new Promise<void>((res) => child.stdout.once('data', () => (child.stdout.destroy(), res())));
  const code = await new Promise<number | null>((res) => child.on('close', (c) => res(c)));
  assert.not.match(stderr, 'EPIPE');
  assert.not.match(stderr, /at .*\(node:/);
  assert.is(code, 0);
});

test('a dry-run that cannot make a read it needs says which read (dns:sync without PDNS_API_KEY)', async () => {
  await withStateDir(async (dir) => {
    const prev = { key: process.env.PDNS_API_KEY, cfg: process.env.HOME_OPS_CONFIG_DIR };
    delete process.env.PDNS_API_KEY;
    process.env.HOME_OPS_CONFIG_DIR = dir; // no .env here: a user's own .env must not change the test
    try {
      const r = await captured(['--dry-run', '--config', join(REPO_ROOT, 'cluster.example.yaml')], powerDnsSyncScript as unknown as ScriptSpec<Record<string, OptionSpec>>);
      assert.is(r.code, 1);
      assert.match(r.err, /--dry-run could not read zone k8s\.example\.org\. from the PowerDNS API \(GET http:\/\/[^ ]+\/zones\/k8s\.example\.org\.\) to show the diff: PDNS_API_KEY is missing/);
      assert.match(r.err, 'nothing was changed');
    } finally {
      if (prev.key !== undefined) process.env.PDNS_API_KEY = prev.key;
      if (prev.cfg === undefined) delete process.env.HOME_OPS_CONFIG_DIR;
      else process.env.HOME_OPS_CONFIG_DIR = prev.cfg;
    }
  });
});

test('a dry-run that cannot reach a host over SSH says it could not read the current state there', async () => {
  const t = makeContext(config({ sshPort: 1, identityFile: '/nonexistent/id', knownHostsFile: '/nonexistent/known_hosts', user: 'root', proxmoxCsi: {} }), { dryRun: true });
  await deleteCsiToken(t.ctx, { inspect: true }).then(
    () => assert.unreachable('no SSH, no read'),
    (err: unknown) => assert.match((err as Error).message, /^--dry-run could not read the current state from root@[^ ]+ over SSH \(read-only commands; nothing was changed\): /),
  );
});

test.run();
