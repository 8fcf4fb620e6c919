import { execFileSync } from 'node:child_process';
import { createDecipheriv, privateDecrypt, constants } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parse } from 'yaml';
import { REPO_ROOT } from '../../scripts/lib/core/paths.ts';
import { CSI_PRIVILEGES } from '../../scripts/lib/proxmox/pveum.ts';
import { CsiTokenError, deleteCsiToken, ensureCsiToken } from '../../scripts/lib/proxmox/csi-token.ts';
import { cleanupVolumesScript, csiTokenScript } from '../../scripts/lib/proxmox/scripts.ts';
import { cleanupOrphanedVolumes, findOrphanedVolumes } from '../../scripts/lib/proxmox/volumes.ts';
import { checkProxmoxPrerequisites } from '../../scripts/lib/proxmox/host.ts';
import { createLab, type Lab } from '../lab/lab.ts';
import { emptyProxmox, type ProxmoxState } from '../lab/remote/remote-lab.ts';
import { config, makeContext, runScriptCaptured, startHarness, type Harness } from './harness.ts';
import { EXIT_REFUSED } from '../../scripts/lib/core/confirm.ts';

// The Proxmox CSI token and the orphaned volume cleanup over the real sshd, against the lab's stateful pveum/pvesm/
// pvesh fakes; sealing through the lab's kubeseal (real sealed-secrets encryption), checked by decrypting.

let h: Harness;
let lab: Lab; // the local lab: kubeseal (and kubectl) on PATH
let keyFile: string;
let certFile: string;

test.before(async () => {
  h = await startHarness();
  lab = createLab({ nodes: [{ name: 'itest-cp-1', ip: '10.0.10.11', role: 'controlplane' }], vip: '10.0.10.10', clusterName: 'itest' });
  keyFile = join(h.dir, 'sealing.key');
  certFile = join(h.dir, 'sealing.crt');
  execFileSync('openssl', ['req', '-x509', '-days', '30', '-nodes', '-newkey', 'rsa:2048', '-keyout', keyFile, '-out', certFile, '-subj', '/CN=sealed-secret/O=sealed-secret'], { stdio: 'ignore' });
});
test.after(async () => {
  await h?.stop();
  lab?.cleanup();
});

/** Decrypts one key of a SealedSecret file with the test's private key (tool-facts §6.3). */
function unseal(file: string, key: string): { plain: string; doc: Record<string, any> } {
  const doc = parse(readFileSync(file, 'utf8')) as Record<string, any>;
  const buf = Buffer.from(doc.spec.encryptedData[key], 'base64');
  const n = buf.readUInt16BE(0);
  const label = Buffer.from(`${doc.metadata.namespace}/${doc.metadata.name}`);
  const session = privateDecrypt({ key: readFileSync(keyFile), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', oaepLabel: label }, buf.subarray(2, 2 + n));
  const rest = buf.subarray(2 + n);
  const d = createDecipheriv('aes-256-gcm', session, Buffer.alloc(12));
  d.setAuthTag(rest.subarray(rest.length - 16));
  return { plain: Buffer.concat([d.update(rest.subarray(0, rest.length - 16)), d.final()]).toString('utf8'), doc };
}

function filesContaining(dir: string, needle: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.size < 5_000_000 && readFileSync(p, 'utf8').includes(needle)) out.push(p);
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

const issued = () => h.lab.proxmox().issuedTokens ?? [];
const csiParts = () => h.parts({ proxmoxCsi: {} });

test('create: role, user, ACL and token over SSH; the sealed Secret decrypts to the issued token; nothing leaks', async () => {
  h.lab.setProxmox(emptyProxmox());
  h.lab.resetCalls();
  const sealedFile = join(h.dir, 'out', 'proxmox-csi-plugin.sealed.yaml');
  const t = makeContext(config(csiParts()), { stateDir: h.stateDir });
  const r = await lab.withEnv(() => ensureCsiToken(t.ctx, { sealedFile, certFile }));
  assert.is(r.changed, true);
  const s = h.lab.proxmox();
  assert.equal([...s.roles.CSI!.privs].sort(), [...CSI_PRIVILEGES].sort());
  assert.ok(s.users['kubernetes-csi@pve']);
  assert.equal(s.acl, [{ path: '/', type: 'user', ugid: 'kubernetes-csi@pve', roleid: 'CSI', propagate: 1 }]);
  assert.equal(s.users['kubernetes-csi@pve']!.tokens!.csi!.privsep, 0);
  assert.equal(h.lab.mutatingCalls().map((c) => c.line), [
    `pveum role add CSI --privs ${CSI_PRIVILEGES.join(',')}`,
    'pveum user add kubernetes-csi@pve --comment Kubernetes CSI plugin (home-ops cluster itest)',
    'pveum acl modify / --users kubernetes-csi@pve --roles CSI --propagate 1',
    'pveum user token add kubernetes-csi@pve csi --privsep 0 --comment Proxmox CSI plugin, home-ops cluster itest --output-format json',
  ]);
  const value = issued()[0]!.value;
  const { plain, doc } = unseal(sealedFile, 'config.yaml');
  assert.is(doc.kind, 'SealedSecret');
  assert.is(doc.metadata.name, 'proxmox-csi-plugin');
  assert.is(doc.metadata.namespace, 'csi-proxmox');
  assert.equal(parse(plain), {
    clusters: [{ url: 'https://127.0.0.1:8006/api2/json', insecure: true, token_id: 'kubernetes-csi@pve!csi', token_secret: value, region: 'itest' }],
  });
  // The value is nowhere else: not in the log, the plan, argv, the state dir, or any file but the sealed one (encrypted).
  assert.not.ok(t.log.all().includes(value));
  assert.not.ok(t.ctx.runner.history.some((c) => c.argv.join(' ').includes(value)));
  assert.equal(filesContaining(h.stateDir, value), []);
  assert.equal(filesContaining(join(h.dir, 'out'), value), []);
  assert.equal(filesContaining(lab.dir, value), []);
});

test('create again: no changes; without the sealed Secret: a clear error and no rotation unless asked', async () => {
  const sealedFile = join(h.dir, 'out', 'proxmox-csi-plugin.sealed.yaml');
  const before = readFileSync(sealedFile, 'utf8');
  h.lab.resetCalls();
  const t = makeContext(config(csiParts()));
  const r = await lab.withEnv(() => ensureCsiToken(t.ctx, { sealedFile, certFile }));
  assert.is(r.changed, false);
  assert.match(r.summary, /^no changes/);
  assert.equal(h.lab.mutatingCalls(), []);
  assert.is(readFileSync(sealedFile, 'utf8'), before);

  const missing = join(h.dir, 'out', 'nope.sealed.yaml');
  try {
    await lab.withEnv(() => ensureCsiToken(makeContext(config(csiParts())).ctx, { sealedFile: missing, certFile }));
    assert.unreachable();
  } catch (err) {
    assert.instance(err, CsiTokenError);
    assert.match((err as Error).message, /token kubernetes-csi@pve!csi exists but its sealed Secret .*nope\.sealed\.yaml does not exist.*cannot be read back.*rotate --confirm itest/);
  }
  assert.equal(h.lab.mutatingCalls(), []);
  assert.is(issued().length, 1);
});

test('rotate replaces the token and the sealed Secret; the old value is gone', async () => {
  const sealedFile = join(h.dir, 'out', 'proxmox-csi-plugin.sealed.yaml');
  h.lab.resetCalls();
  const r = await lab.withEnv(() => ensureCsiToken(makeContext(config(csiParts())).ctx, { sealedFile, certFile, rotate: true }));
  assert.is(r.changed, true);
  assert.equal(h.lab.mutatingCalls().map((c) => c.line.split(' --comment')[0]), ['pveum user token remove kubernetes-csi@pve csi', 'pveum user token add kubernetes-csi@pve csi --privsep 0']);
  const [old, now] = issued().map((i) => i.value);
  assert.ok(old && now && old !== now);
  assert.is(parse(unseal(sealedFile, 'config.yaml').plain).clusters[0].token_secret, now);
});

test('drifted role privileges are set back; changed settings (region) make the sealed Secret stale', async () => {
  const sealedFile = join(h.dir, 'out', 'proxmox-csi-plugin.sealed.yaml');
  const s: ProxmoxState = h.lab.proxmox();
  s.roles.CSI = { privs: ['VM.Audit'] };
  h.lab.setProxmox(s);
  h.lab.resetCalls();
  await lab.withEnv(() => ensureCsiToken(makeContext(config(csiParts())).ctx, { sealedFile, certFile }));
  assert.equal(h.lab.mutatingCalls().map((c) => c.line), [`pveum role modify CSI --privs ${CSI_PRIVILEGES.join(',')}`]);
  try {
    await lab.withEnv(() => ensureCsiToken(makeContext(config(h.parts({ proxmoxCsi: { region: 'elsewhere' } }))).ctx, { sealedFile, certFile }));
    assert.unreachable();
  } catch (err) {
    assert.match((err as Error).message, /made for other settings/);
  }
});

test('sealing prerequisites are checked before Proxmox changes; a failed seal removes the new token again', async () => {
  h.lab.setProxmox(emptyProxmox());
  h.lab.resetCalls();
  const sealedFile = join(h.dir, 'out2', 'x.sealed.yaml');
  try {
    await lab.withEnv(() => ensureCsiToken(makeContext(config(csiParts())).ctx, { sealedFile, certFile: join(h.dir, 'missing.pem') }));
    assert.unreachable();
  } catch (err) {
    assert.match((err as Error).message, /sealing certificate .*missing\.pem does not exist/);
  }
  assert.equal(h.lab.calls(), []);
  const garbage = join(h.dir, 'garbage.pem');
  writeFileSync(garbage, 'not a certificate\n');
  try {
    await lab.withEnv(() => ensureCsiToken(makeContext(config(csiParts())).ctx, { sealedFile, certFile: garbage }));
    assert.unreachable();
  } catch (err) {
    assert.match((err as Error).message, /kubeseal/);
  }
  assert.equal(h.lab.proxmox().users['kubernetes-csi@pve']?.tokens, {});
  assert.ok(h.lab.calls({ cmd: 'pveum user token remove' }).length === 1);
  assert.not.ok(existsSync(sealedFile));
});

test('a failing pveum command stops with its error', async () => {
  h.lab.setProxmox(emptyProxmox());
  h.lab.injectFault({ cmd: 'pveum user add', exitCode: 255, stderr: "create user failed: cfs-lock 'file-user_cfg' error: got lock request timeout", times: 1 });
  try {
    await lab.withEnv(() => ensureCsiToken(makeContext(config(csiParts())).ctx, { sealedFile: join(h.dir, 'out3', 'x.yaml'), certFile }));
    assert.unreachable();
  } catch (err) {
    assert.match((err as Error).message, /remote command failed \(exit 255\): .*pveum user add[\s\S]*got lock request timeout/);
  }
  h.lab.clearFaults();
  assert.equal(issued(), []);
});

test('delete removes token, ACL and user (the role stays); again: no changes', async () => {
  h.lab.setProxmox({
    ...emptyProxmox(),
    roles: { CSI: { privs: [...CSI_PRIVILEGES] } },
    users: { ...emptyProxmox().users, 'kubernetes-csi@pve': { enable: 1, tokens: { csi: { privsep: 0 } } } },
    acl: [{ path: '/', type: 'user', ugid: 'kubernetes-csi@pve', roleid: 'CSI', propagate: 1 }],
  });
  h.lab.resetCalls();
  const r = await deleteCsiToken(makeContext(config(csiParts())).ctx);
  assert.is(r.changed, true);
  assert.equal(h.lab.mutatingCalls().map((c) => c.line), [
    'pveum user token remove kubernetes-csi@pve csi',
    'pveum acl delete / --users kubernetes-csi@pve --roles CSI',
    'pveum user delete kubernetes-csi@pve',
  ]);
  const s = h.lab.proxmox();
  assert.not.ok(s.users['kubernetes-csi@pve']);
  assert.equal(s.acl, []);
  assert.ok(s.roles.CSI);
  h.lab.resetCalls();
  const again = await deleteCsiToken(makeContext(config(csiParts())).ctx);
  assert.is(again.changed, false);
  assert.equal(h.lab.mutatingCalls(), []);
});

test('the script: create twice (second: no changes), rotate needs confirmation by cluster name, --dry-run changes nothing', async () => {
  // The script writes where the bootstrap reads: kubernetes/clusters/<cluster>/ in this repository. A cluster name of
  // its own keeps the test away from real clusters; the directory is removed afterwards.
  const name = `itcsi${process.pid}`;
  const tree = join(REPO_ROOT, 'kubernetes', 'clusters', name);
  assert.not.ok(existsSync(tree));
  mkdirSync(tree, { recursive: true });
  try {
    writeFileSync(join(tree, 'sealed-secrets-cert.pem'), readFileSync(certFile));
    h.lab.setProxmox(emptyProxmox());
    const file = h.configFile(h.parts({ clusterName: name, proxmoxCsi: {} }), 'csi.yaml');
    const env = { ...lab.env, HOME_OPS_STATE_DIR: h.stateDir };
    const dry = await runScriptCaptured(csiTokenScript, ['--config', file, '--dry-run'], env);
    assert.is(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /\$ ssh -p \d+ \S+ -- pveum user token add kubernetes-csi@pve csi --privsep 0 --comment 'Proxmox CSI plugin, home-ops cluster itcsi\d+' --output-format json/);
    assert.match(dry.stdout, /\$ kubeseal --cert \S+sealed-secrets-cert\.pem --format yaml < \(stdin\)/);
    assert.equal(h.lab.mutatingCalls(), []);
    const sealed = join(tree, 'secrets', 'proxmox-csi-plugin.sealed.yaml');
    assert.not.ok(existsSync(sealed));

    const first = await runScriptCaptured(csiTokenScript, ['--config', file, 'create'], env);
    assert.is(first.code, 0, first.stderr);
    assert.ok(existsSync(sealed));
    h.lab.resetCalls();
    const second = await runScriptCaptured(csiTokenScript, ['--config', file], env);
    assert.is(second.code, 0, second.stderr);
    assert.match(second.stdout, /no changes/);
    assert.equal(h.lab.mutatingCalls(), []);

    const refused = await runScriptCaptured(csiTokenScript, ['--config', file, 'rotate'], env);
    assert.is(refused.code, EXIT_REFUSED);
    assert.match(refused.stderr, new RegExp(`replace the Proxmox token .*: needs confirmation, and there is no terminal to ask[\\s\\S]*next: task storage:csi-token -- rotate --confirm ${name}`));
    const wrong = await runScriptCaptured(csiTokenScript, ['--config', file, 'rotate', '--confirm', 'infra'], env);
    assert.is(wrong.code, EXIT_REFUSED);
    assert.match(wrong.stderr, new RegExp(`aborted: "infra" is not the cluster name "${name}"\n  nothing was changed`));
    assert.equal(h.lab.mutatingCalls(), []);
    const rotated = await runScriptCaptured(csiTokenScript, ['--config', file, 'rotate', '--confirm', name], env);
    assert.is(rotated.code, 0, rotated.stderr);
    assert.is(issued().length, 2);
    assert.is(parse(unseal(sealed, 'config.yaml').plain).clusters[0].token_secret, issued()[1]!.value);
    const bad = await runScriptCaptured(csiTokenScript, ['--config', file, 'renew'], env);
    assert.is(bad.code, 2);
  } finally {
    rmSync(tree, { recursive: true, force: true });
  }
});

// --- orphaned CSI volumes -----------------------------------------------------------------------------------------

function volumeWorld(opts: { ourVm?: boolean } = {}): ProxmoxState {
  return {
    ...emptyProxmox(),
    storages: {
      local: { volumes: [] },
      'local-lvm': {
        volumes: [
          { name: 'vm-9999-pvc-aaaa', vmid: 9999, size: 2 * 1024 ** 3 },
          { name: 'vm-9999-pvc-bbbb', vmid: 9999 }, // attached to VM 2001
          { name: 'vm-2002-pvc-cccc', vmid: 2002 }, // VM 2002 exists
          { name: 'vm-9999-pvc-dddd', vmid: 9999, protected: true },
          { name: 'vm-2001-disk-0', vmid: 2001 }, // not a CSI volume
          { name: 'vm-9999-pvc-eeee', vmid: 9999 },
        ],
      },
    },
    vms: {
      '2001': { name: 'other-cluster-cp-1', config: { scsi0: 'local-lvm:vm-2001-disk-0,size=32G', scsi1: 'local-lvm:vm-9999-pvc-bbbb,size=1G' } },
      '2002': { name: 'other-vm', config: { scsi0: 'local-lvm:vm-2002-disk-0,size=8G' } },
      ...(opts.ourVm ? { '1011': { name: 'itest-cp-1', config: { scsi0: 'local-lvm:vm-1011-disk-0,size=32G' } } } : {}),
    },
  };
}

const volumes = () => h.lab.proxmox().storages['local-lvm']!.volumes.map((v) => v.name).sort();

test('orphaned volumes: only unowned, unattached, unprotected CSI volumes, and only after confirmation', async () => {
  h.lab.setProxmox(volumeWorld());
  const t = makeContext(config(csiParts()));
  h.lab.resetCalls();
  const plan = await findOrphanedVolumes(t.ctx);
  // The JSON listing comes from the storage content API (pvesm list has no --output-format: the strict fake refuses it).
  assert.equal(h.lab.calls({ cmd: 'pvesh get /nodes/pve/storage/local-lvm/content' }).map((c) => c.exitCode), [0]);
  assert.is(h.lab.calls({ tool: 'pvesm' }).length, 0);
  assert.equal(plan!.orphans.map((v) => v.volid), ['local-lvm:vm-9999-pvc-aaaa', 'local-lvm:vm-9999-pvc-eeee']);
  assert.equal(plan!.kept.map((k) => `${k.volid}: ${k.reason}`).sort(), [
    'local-lvm:vm-2002-pvc-cccc: belongs to existing VM 2002',
    'local-lvm:vm-9999-pvc-bbbb: attached to an existing VM',
    'local-lvm:vm-9999-pvc-dddd: protected',
  ]);
  let asked: string[] = [];
  const no = await cleanupOrphanedVolumes(t.ctx, { confirm: async (o) => ((asked = o.map((v) => v.volid)), false) });
  assert.is(no.changed, false);
  assert.equal(asked, ['local-lvm:vm-9999-pvc-aaaa', 'local-lvm:vm-9999-pvc-eeee']);
  assert.is(volumes().length, 6);
  h.lab.resetCalls();
  const yes = await cleanupOrphanedVolumes(makeContext(config(csiParts())).ctx, { confirm: async () => true });
  assert.is(yes.changed, true);
  assert.equal(h.lab.mutatingCalls().map((c) => c.line), ['pvesm free local-lvm:vm-9999-pvc-aaaa', 'pvesm free local-lvm:vm-9999-pvc-eeee']);
  assert.equal(volumes(), ['vm-2001-disk-0', 'vm-2002-pvc-cccc', 'vm-9999-pvc-bbbb', 'vm-9999-pvc-dddd']);
  const again = await cleanupOrphanedVolumes(makeContext(config(csiParts())).ctx, { confirm: async () => assert.unreachable('asked with nothing to free') as never });
  assert.equal(again, { changed: false, summary: 'no changes (no orphaned CSI volumes)' });
});

test('orphaned volumes: while this cluster\'s VMs exist and its PVs cannot be listed, nothing is treated as orphaned', async () => {
  h.lab.setProxmox(volumeWorld({ ourVm: true }));
  const t = makeContext(config(csiParts()), { stateDir: h.stateDir });
  try {
    await lab.withEnv(() => cleanupOrphanedVolumes(t.ctx, { confirm: async () => true }));
    assert.unreachable();
  } catch (err) {
    assert.match((err as Error).message, /the cluster's VMs still exist \(1011\) and its PersistentVolumes could not be listed/);
  }
  assert.is(volumes().length, 6);
});

test('the cleanup script under --dry-run with this cluster\'s VMs present: reads the PersistentVolumes and keeps theirs', async () => {
  h.lab.setProxmox(volumeWorld({ ourVm: true }));
  h.lab.resetCalls();
  // A kubectl that answers `get pv -o json` with one PersistentVolume of the Proxmox CSI plugin on vm-9999-pvc-aaaa.
  const bin = join(h.dir, 'pv-bin');
  mkdirSync(bin, { recursive: true });
  const pvs = { items: [{ spec: { csi: { driver: 'csi.proxmox.sinextra.dev', volumeHandle: 'region/zone/local-lvm/vm-9999-pvc-aaaa' } } }] };
  writeFileSync(join(bin, 'kubectl'), `#!/bin/sh\n[ "$*" = "get pv -o json" ] || exit 1\necho '${JSON.stringify(pvs)}'\n`, { mode: 0o755 });
  const file = h.configFile(csiParts(), 'vol-dry.yaml');
  const dry = await runScriptCaptured(cleanupVolumesScript, ['--config', file, '--dry-run'], { HOME_OPS_STATE_DIR: h.stateDir, PATH: `${bin}:${process.env.PATH}` });
  assert.is(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /orphaned CSI volumes \(1\):\n {2}local-lvm:vm-9999-pvc-eeee/);
  assert.match(dry.stdout, /kept local-lvm:vm-9999-pvc-aaaa: a PersistentVolume of this cluster/);
  assert.match(dry.stdout, /\$ ssh .* -- pvesm free local-lvm:vm-9999-pvc-eeee/);
  assert.not.match(dry.stdout, /pvesm free local-lvm:vm-9999-pvc-aaaa/);
  assert.equal(h.lab.mutatingCalls(), []);
  assert.is(volumes().length, 6);
});

test('the cleanup script: lists, refuses without confirmation, frees with --confirm, then "no changes"', async () => {
  h.lab.setProxmox(volumeWorld());
  const file = h.configFile(csiParts(), 'vol.yaml');
  const env = { HOME_OPS_STATE_DIR: h.stateDir };
  const dry = await runScriptCaptured(cleanupVolumesScript, ['--config', file, '--dry-run'], env);
  assert.is(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /orphaned CSI volumes \(2\):\n {2}local-lvm:vm-9999-pvc-aaaa {2}2\.0G/);
  assert.match(dry.stdout, /\$ ssh .* -- pvesm free local-lvm:vm-9999-pvc-eeee/);
  const refused = await runScriptCaptured(cleanupVolumesScript, ['--config', file], env);
  assert.is(refused.code, EXIT_REFUSED);
  assert.match(refused.stderr, /free 2 volume\(s\) .*: needs confirmation, and there is no terminal to ask[\s\S]*next: task storage:cleanup-volumes -- --confirm itest/);
  assert.is(volumes().length, 6);
  const done = await runScriptCaptured(cleanupVolumesScript, ['--config', file, '--confirm', 'itest'], env);
  assert.is(done.code, 0, done.stderr);
  assert.match(done.stdout, /freed 2 volume\(s\)/);
  const again = await runScriptCaptured(cleanupVolumesScript, ['--config', file, '--confirm', 'itest'], env);
  assert.match(again.stdout, /no orphaned CSI volumes/);
  assert.match(again.stderr, /no changes/);
});

// --- host prerequisites (preflight) -------------------------------------------------------------------------------

test('preflight: Proxmox VE >= 8.4 and an image storage that allows "import", each refused with its exact fix', async () => {
  const ctx = () => makeContext(config(csiParts())).ctx;
  const pve = emptyProxmox();
  // A default `local` dir storage (backup,iso,vztmpl) on 8.4.1: the storage lacks "import".
  h.lab.setProxmox(pve);
  h.lab.resetCalls();
  assert.equal(await checkProxmoxPrerequisites(ctx()), [
    'storage \'local\' (proxmox.imageStorage) on 127.0.0.1 does not allow the "import" content type the Talos disk image is downloaded as (it allows backup,iso,vztmpl): run `pvesm set local --content backup,iso,vztmpl,import` on the host, or pick another storage',
  ]);
  assert.equal(h.lab.calls().map((c) => c.line), ['pveversion', 'pvesh get /storage/local --output-format json']);
  assert.equal(h.lab.mutatingCalls(), []);
  // 8.3 with the storage fixed: the version is the problem.
  h.lab.setProxmox({ ...pve, version: '8.3.5', storages: { ...pve.storages, local: { volumes: [], content: 'backup,import,iso,vztmpl' } } });
  const old = await checkProxmoxPrerequisites(ctx());
  assert.is(old.length, 1);
  assert.match(old[0]!, /^Proxmox VE on 127\.0\.0\.1 is 8\.3\.5; the Talos image download \(content type "import"\) needs 8\.4 or later/);
  h.lab.setProxmox({ ...pve, version: '9.1.2', storages: { ...pve.storages, local: { volumes: [], content: 'backup,import,iso,vztmpl' } } });
  assert.equal(await checkProxmoxPrerequisites(ctx()), []);
  // A storage that does not exist: named, not a crash.
  h.lab.setProxmox({ ...pve, storages: { 'local-lvm': { volumes: [] } } });
  assert.equal(await checkProxmoxPrerequisites(ctx()), ["cannot read storage 'local' (proxmox.imageStorage) on 127.0.0.1: storage 'local' does not exist"]);
});

test.run();
