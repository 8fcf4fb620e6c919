import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { REPO_ROOT } from '../../scripts/lib/core/paths.ts';
import { EXIT_REFUSED } from '../../scripts/lib/core/confirm.ts';
import { destroyScript } from '../../scripts/lib/day2/scripts.ts';
import { labFromConfig } from '../lab/lab.ts';
import { CLUSTER, config, mutatingCalls, run } from './harness.ts';

// cluster:destroy: the plan first (every step, exact remote commands, Terraform's destroy plan), the typed confirmation,
// then the teardown in reverse order of creation, Terraform applying exactly the plan it showed.

const SKIP_REMOTE = ['--skip', 'vps-expose,flux-deploy-key,csi-token,headscale-nodes']; // GitHub and SSH hosts are not in the lab

/** A lab whose infrastructure layer was applied: the VMs exist (in maintenance mode). */
function labWithVms() {
  const lab = labFromConfig(config, {});
  const env = { ...process.env, ...lab.env };
  const tf = (...args: string[]) => execFileSync('terraform', ['-chdir=terraform/01-infrastructure', ...args], { cwd: REPO_ROOT, env, encoding: 'utf8' });
  tf('init', '-input=false', '-no-color');
  tf('workspace', 'select', '-or-create', CLUSTER);
  tf('apply', '-input=false', '-no-color', '-auto-approve', `-var-file=${join(REPO_ROOT, 'terraform/generated', CLUSTER, '01-infrastructure.tfvars.json')}`);
  return lab;
}

test('--dry-run: every step in reverse order of creation with its exact commands; nothing runs', async () => {
  const lab = labFromConfig(config, {});
  try {
    const r = await run(lab, destroyScript, ['--dry-run']);
    assert.is(r.code, 0, r.text);
    const order = ['Public entry: nginx', 'Flux deploy key', 'Proxmox CSI token', 'Headscale node entries', 'terraform destroy 01-infrastructure', '(skip) terraform destroy 00-persistent-auth'];
    const at = order.map((s) => r.stdout.indexOf(s));
    assert.ok(at.every((i, k) => i >= 0 && (k === 0 || i > at[k - 1]!)), `steps in order:\n${r.stdout}`);
    assert.match(r.stdout, /ssh root@pve\.home\.arpa -- pveum user token remove kubernetes-csi\\?@pve csi/);
    assert.match(r.stdout, /headscale nodes/);
    // The VPS: the stream file (only this cluster's) out, nginx -t before the reload, then the secondary zone.
    const c = config as Required<typeof config>;
    const vps = r.stdout.slice(r.stdout.indexOf(`VPS ${c.vps.host}:`));
    const ssh = `ssh ${c.vps.sshUser}@${c.vps.host} -- `;
    const lines = [`${ssh}cat ${c.vps.nginx.file}`, `${ssh}mv ${c.vps.nginx.file} ${c.vps.nginx.file}.previous`, `${ssh}${c.vps.nginx.command.join(' ')} -t`, `${ssh}${c.vps.nginx.command.join(' ')} -s reload`, `${ssh}rm -f ${c.vps.nginx.file}.previous`, `${ssh}${c.vps.pdnsutil.join(' ')} show-zone ${c.powerdns.zone}`, `${ssh}${c.vps.pdnsutil.join(' ')} delete-zone ${c.powerdns.zone}`];
    const where = lines.map((l) => vps.indexOf(l));
    assert.ok(where.every((i, k) => i >= 0 && (k === 0 || i > where[k - 1]!)), `VPS commands in order:\n${vps}`);
    assert.match(r.stdout, /terraform -chdir=terraform\/01-infrastructure plan .* -destroy/);
    assert.match(r.stdout, /terraform -chdir=terraform\/01-infrastructure apply -input=false -no-color \S+01-infrastructure\.destroy\.tfplan/);
    assert.match(r.stdout, /kept:\n {2}- Talos secrets/);
    assert.is(lab.calls().length, 0);
  } finally {
    lab.cleanup();
  }
});

test('a wrong name aborts after the plan with nothing destroyed; the right one applies exactly the shown plan', async () => {
  const lab = labWithVms();
  try {
    assert.ok(lab.state().nodes.every((n) => n.present), 'the VMs exist');
    const before = lab.calls().length;
    const wrong = await run(lab, destroyScript, [...SKIP_REMOTE, '--confirm', 'infra-prod']);
    assert.is(wrong.code, EXIT_REFUSED, wrong.text);
    assert.match(wrong.stdout, /terraform 01-infrastructure: \d+ resource\(s\) to destroy/);
    assert.equal(mutatingCalls(lab).slice(1), [], 'only the setup apply');
    assert.ok(lab.calls().slice(before).some((c) => c.cmd === 'terraform plan' && c.argv.includes('-destroy')));
    assert.ok(lab.state().nodes.every((n) => n.present));

    const r = await run(lab, destroyScript, [...SKIP_REMOTE, '--confirm', CLUSTER]);
    assert.is(r.code, 0, r.text);
    const applies = lab.calls({ cmd: 'terraform apply' }).slice(1);
    assert.is(applies.length, 1);
    assert.match(applies[0]!.argv.join(' '), /01-infrastructure\.destroy\.tfplan$/, 'the saved destroy plan, not a fresh destroy');
    assert.not.ok(lab.calls().some((c) => c.argv.some((a) => a.includes('00-persistent-auth')) && c.cmd === 'terraform apply'), 'the persistent layer is kept');
    assert.ok(lab.state().nodes.every((n) => !n.present), 'the VMs are gone');
    assert.match(r.stdout, /destroyed: terraform:01-infrastructure/);
    assert.match(r.text, /no etcd to snapshot|final etcd snapshot/);
  } finally {
    lab.cleanup();
  }
});

test.run();
