import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { parseTalosHeader } from '../configure/machine.ts';
import { mergeConfigs, splitDocuments, type ConfigDocuments } from '../talos/merge.ts';
import { kubeletMayNotSet } from '../kubernetes/nodes.ts';
import type { Finding } from './model.ts';
import { TalosSchema, talosSchemaPath } from './talos-schema.ts';

// The rendered Talos patches (talos/generated/<cluster>/) carry what the design depends on: no CNI and no kube-proxy
// (the bootstrap installs Cilium), KubePrism (Cilium's API endpoint), the VIP on the control planes, and each node's
// hostname and static address — and no label a worker's kubelet may not set in the patches that reach workers
// (common.yaml, worker.yaml, a worker's node patch): Talos applies machine.nodeLabels on workers with the kubelet's
// credentials, and NodeRestriction rejects the whole update over one restricted label (siderolabs/talos#10122).
// Every patch, and every node's merged config (common + role + node, merged as talosctl merges them), is checked
// against Talos' own config schema for the Talos version in the file's header.

type Doc = Record<string, unknown>;

function get(doc: unknown, path: string): unknown {
  let cur = doc;
  for (const k of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Doc)[k];
  }
  return cur;
}

interface PatchFile {
  rel: string;
  text: string;
  docs: ConfigDocuments;
  header: ReturnType<typeof parseTalosHeader>;
}

function load(file: string, findings: Finding[], rel: string): PatchFile | undefined {
  if (!existsSync(file)) return undefined;
  const text = readFileSync(file, 'utf8');
  const parsed = parseAllDocuments(text);
  const docs = Array.isArray(parsed) ? parsed : [parsed];
  const bad = docs.find((d) => d.errors.length);
  if (bad) {
    findings.push({ check: 'talos', file: rel, message: `not valid YAML: ${bad.errors[0]!.message.split('\n')[0]}` });
    return undefined;
  }
  return { rel, text, docs: splitDocuments(docs.map((d) => d.toJS() as unknown).filter((d) => d != null)), header: parseTalosHeader(text) };
}

/** Interfaces and their VLANs: the places an address or a VIP can sit. */
function linkEntries(v1alpha1: Doc): { name: string; entry: Doc }[] {
  const out: { name: string; entry: Doc }[] = [];
  for (const i of (get(v1alpha1, 'machine.network.interfaces') ?? []) as Doc[]) {
    const name = String(i.interface ?? JSON.stringify(i.deviceSelector ?? null));
    out.push({ name, entry: i });
    for (const v of (i.vlans ?? []) as Doc[]) out.push({ name: `${name}.${String(v.vlanId)}`, entry: v });
  }
  return out;
}

export function checkTalos(root: string, findings: Finding[]): number {
  const base = join(root, 'talos', 'generated');
  if (!existsSync(base)) return 0;
  let files = 0;
  const schemas = new Map<string, TalosSchema | undefined>();
  const schemaFor = (f: PatchFile): TalosSchema | undefined => {
    const version = f.header.talos;
    if (!version) {
      findings.push({ check: 'talos', file: f.rel, message: 'has no "# Talos: vX.Y.Z" header line, so no schema to check it against: run `task configure`' });
      return undefined;
    }
    if (!schemas.has(version)) {
      const schema = TalosSchema.load(root, version);
      if (!schema) {
        findings.push({ check: 'talos', file: f.rel, message: `no Talos config schema for ${version}: vendor siderolabs/talos website/content/${/^v\d+\.\d+/.exec(version)?.[0]}/schemas/config.schema.json as ${talosSchemaPath('', version)} (see schemas/README.md)` });
      }
      schemas.set(version, schema);
    }
    return schemas.get(version);
  };
  const checkSchema = (f: PatchFile, docs: ConfigDocuments, context = '') => {
    const schema = schemaFor(f);
    if (!schema) return;
    for (const doc of [docs.v1alpha1, ...docs.documents]) {
      for (const p of schema.check(doc)) findings.push({ check: 'talos', file: f.rel, message: `${context}${p}` });
    }
  };

  for (const cluster of readdirSync(base).sort()) {
    const dir = join(base, cluster);
    const rel = (f: string) => `talos/generated/${cluster}/${f}`;
    const need = (doc: PatchFile | undefined, path: string, ok: (v: unknown) => boolean, why: string) => {
      if (doc && !ok(get(doc.docs.v1alpha1, path))) findings.push({ check: 'talos', file: doc.rel, message: `${path} must be ${why}` });
    };
    const common = load(join(dir, 'common.yaml'), findings, rel('common.yaml'));
    if (!common && !existsSync(join(dir, 'common.yaml'))) findings.push({ check: 'talos', file: rel('common.yaml'), message: 'missing: run `task configure`' });
    need(common, 'cluster.network.cni.name', (v) => v === 'none', '"none" (the bootstrap installs Cilium)');
    need(common, 'cluster.proxy.disabled', (v) => v === true, 'true (Cilium replaces kube-proxy)');
    need(common, 'machine.features.kubePrism.enabled', (v) => v === true, 'true (Cilium reaches the API through KubePrism)');
    const roles = {
      controlplane: load(join(dir, 'controlplane.yaml'), findings, rel('controlplane.yaml')),
      worker: load(join(dir, 'worker.yaml'), findings, rel('worker.yaml')),
    };
    const restrictedLabels = (f: PatchFile | undefined) => {
      const labels = get(f?.docs.v1alpha1, 'machine.nodeLabels');
      const restricted = labels && typeof labels === 'object' ? Object.keys(labels).filter(kubeletMayNotSet) : [];
      if (f && restricted.length) {
        findings.push({
          check: 'talos',
          file: f.rel,
          message:
            `machine.nodeLabels has ${restricted.join(', ')}, which a kubelet may not set (NodeRestriction): on workers Talos applies ` +
            'nodeLabels with the kubelet\'s credentials and the whole label update is rejected. Remove it from the patch ' +
            '(the bootstrap sets node-role.kubernetes.io/worker with the admin kubeconfig)',
        });
      }
    };
    restrictedLabels(common);
    restrictedLabels(roles.worker);
    const cp = roles.controlplane;
    if (cp && !linkEntries(cp.docs.v1alpha1).some((l) => typeof get(l.entry, 'vip.ip') === 'string')) {
      findings.push({ check: 'talos', file: cp.rel, message: 'machine.network.interfaces[].vip.ip must hold the API VIP' });
    }
    for (const f of [common, roles.controlplane, roles.worker]) {
      if (!f) continue;
      files++;
      checkSchema(f, f.docs);
    }
    const nodesDir = join(dir, 'nodes');
    for (const name of existsSync(nodesDir) ? readdirSync(nodesDir).sort() : []) {
      const f = load(join(nodesDir, name), findings, rel(`nodes/${name}`));
      if (!f) continue;
      files++;
      const node = name.replace(/\.ya?ml$/, '');
      need(f, 'machine.network.hostname', (v) => v === node, `"${node}" (the file's node)`);
      const addrs = linkEntries(f.docs.v1alpha1).flatMap((l) => (l.entry.addresses ?? []) as string[]);
      if (addrs.length === 0) findings.push({ check: 'talos', file: f.rel, message: 'machine.network.interfaces[].addresses must hold the node\'s static address' });
      checkSchema(f, f.docs);

      // The node's config as the bootstrap builds it: gen config with the common and role patches, then the node patch.
      const role = f.header.role;
      if (!role) {
        findings.push({ check: 'talos', file: f.rel, message: 'has no "# Node: <name> (<role>)" header line, so its merged config cannot be built: run `task configure`' });
        continue;
      }
      if (role === 'worker') restrictedLabels(f);
      const rolePatch = roles[role];
      if (!common || !rolePatch) continue;
      const merged = mergeConfigs([common.docs, rolePatch.docs, f.docs]);
      checkSchema(f, merged, `merged with common.yaml and ${role}.yaml: `);
      if (role === 'controlplane') {
        // The VIP must sit where the node's address is (same interface or VLAN), or the node never announces it.
        const links = linkEntries(merged.v1alpha1);
        const vip = links.find((l) => typeof get(l.entry, 'vip.ip') === 'string');
        if (vip && !((vip.entry.addresses ?? []) as string[]).length) {
          const holder = links.find((l) => ((l.entry.addresses ?? []) as string[]).length);
          findings.push({ check: 'talos', file: f.rel, message: `merged with controlplane.yaml, the API VIP sits on ${vip.name} but the node's addresses on ${holder?.name ?? 'no link'}; both must name the same link (talos.bond / talos.vlan)` });
        }
      }
    }
  }
  return files;
}
