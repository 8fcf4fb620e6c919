import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse as parseShell } from 'shell-quote';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parse as parseYaml } from 'yaml';
import { parse as parseDotenv } from 'dotenv';
import { checkSecrets, ConfigError, parseConfigText } from '../../scripts/lib/config/load.ts';
import { REPO_ROOT } from '../../scripts/lib/core/paths.ts';

// What a new user meets in the first hour holds: the README's Proxmox token commands work (run through the lab's
// pveum, which knows Proxmox VE's privilege names), the config's $schema line works from cluster.yaml and from
// clusters/<name>.yaml, every task is an npm script too, and the preflight refuses .env.example's placeholders.

const README = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');

test("the README's pveum commands for Terraform's token run, and the token has the user's rights (privsep 0)", () => {
  const commands = README.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('pveum '));
  assert.ok(commands.length >= 4, `pveum commands in README.md: ${commands.length}`);
  assert.ok(commands.some((c) => c.startsWith('pveum role add ')) && commands.some((c) => c.includes('token add')));
  const dir = mkdtempSync(join(tmpdir(), 'first-hour-pve-'));
  const pveum = (args: string[]) => spawnSync(join(REPO_ROOT, 'test/lab/remote/bin/pveum'), args, { env: { ...process.env, LAB_REMOTE_DIR: dir }, encoding: 'utf8' });
  try {
    for (const line of commands) {
      const args = (parseShell(line) as string[]).slice(1);
      const r = pveum(args);
      assert.is(r.status, 0, `${line}\n${r.stderr}`);
    }
    const tokens = JSON.parse(pveum(['user', 'token', 'list', 'terraform@pve', '--output-format', 'json']).stdout) as { tokenid: string; privsep: number }[];
    assert.equal(tokens.map((t) => [t.tokenid, t.privsep]), [['provider', 0]]);
    const roles = JSON.parse(pveum(['role', 'list', '--output-format', 'json']).stdout) as { roleid: string; privs: string }[];
    const privs = roles.find((r) => r.roleid === 'HomeOpsTerraform')?.privs.split(',') ?? [];
    // Least privilege: nothing that administers Proxmox itself.
    for (const broad of ['Sys.Modify', 'Permissions.Modify', 'User.Modify', 'Realm.Allocate', 'Sys.PowerMgmt']) assert.not.ok(privs.includes(broad), `role has ${broad}`);
    for (const needed of ['VM.Allocate', 'VM.Config.Disk', 'Datastore.AllocateTemplate', 'Pool.Allocate']) assert.ok(privs.includes(needed), `role lacks ${needed}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the $schema line of the example config resolves from cluster.yaml and from clusters/<name>.yaml', () => {
  const first = readFileSync(join(REPO_ROOT, 'cluster.example.yaml'), 'utf8').split('\n')[0]!;
  const ref = /^# yaml-language-server: \$schema=(\S+)$/.exec(first)?.[1];
  assert.ok(ref, `first line: ${first}`);
  const schema = realpathSync(join(REPO_ROOT, 'cluster.schema.json'));
  for (const dir of [REPO_ROOT, join(REPO_ROOT, 'clusters')]) {
    const target = resolve(dir, ref!);
    assert.ok(existsSync(target), `${ref} from ${dir} does not exist`);
    assert.is(realpathSync(target), schema, `${ref} from ${dir}`);
  }
});

test('every task that runs a script is also an npm script of the same name running the same command', () => {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const root = parseYaml(readFileSync(join(REPO_ROOT, 'Taskfile.yml'), 'utf8')) as { includes: Record<string, string>; tasks: Record<string, { cmds?: string[] }> };
  const all: [string, string][] = Object.entries(root.tasks).flatMap(([n, t]) => (t.cmds ?? []).map((c) => [n, c] as [string, string]));
  for (const [ns, file] of Object.entries(root.includes)) {
    const inc = parseYaml(readFileSync(join(REPO_ROOT, file), 'utf8')) as { tasks: Record<string, { cmds?: string[] }> };
    for (const [n, t] of Object.entries(inc.tasks)) for (const c of t.cmds ?? []) all.push([`${ns}:${n}`, c]);
  }
  const scripted = all.filter(([, c]) => /scripts\/[\w-]+\.ts/.test(c));
  assert.ok(scripted.length >= 14, `tasks running scripts: ${scripted.length}`);
  const norm = (c: string) => c.replace(/\{\{\.TSX\}\}|npx tsx/, 'tsx').replace(/\s*\{\{\.CLI_ARGS\}\}/, '').trim();
  for (const [name, cmd] of scripted) assert.is(pkg.scripts[name], norm(cmd), `npm run ${name}`);
});

test('the preflight refuses the placeholders of .env.example, naming each', () => {
  const example = parseDotenv(readFileSync(join(REPO_ROOT, '.env.example')));
  const c = parseConfigText(readFileSync(join(REPO_ROOT, 'test/fixtures/config/valid/one-node.yaml'), 'utf8'));
  // cp .env.example .env, then only the GitHub token filled in.
  const copied = { ...example, GITHUB_TOKEN: 'ghp_real_token_0123456789' };
  try {
    checkSecrets(c, copied);
    assert.unreachable('the placeholder token was accepted');
  } catch (err) {
    assert.instance(err, ConfigError);
    const problems = (err as ConfigError).problems;
    assert.is(problems.length, 1, problems.join('\n'));
    assert.match(problems[0]!, 'PROXMOX_VE_API_TOKEN in .env is still the placeholder from .env.example');
  }
  checkSecrets(c, { ...copied, PROXMOX_VE_API_TOKEN: 'terraform@pve!provider=3f0c2a9e-1b7d-4c5e-9a8f-2d6b1e0c7a41' });
});

test.run();
