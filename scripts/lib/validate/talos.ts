import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { kubeletMayNotSet } from '../kubernetes/nodes.ts';
import type { Finding } from './model.ts';

// The rendered Talos patches (talos/generated/<cluster>/) carry what the design depends on: no CNI and no kube-proxy
// (the bootstrap installs Cilium), KubePrism (Cilium's API endpoint), the VIP on the control planes, and each node's
// hostname and static address — and no label a worker's kubelet may not set in the patches that reach workers
// (common.yaml, worker.yaml): Talos applies machine.nodeLabels on workers with the kubelet's credentials, and
// NodeRestriction rejects the whole update over one restricted label (siderolabs/talos#10122).

type Doc = Record<string, unknown>;

function get(doc: unknown, path: string): unknown {
  let cur = doc;
  for (const k of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Doc)[k];
  }
  return cur;
}

function load(file: string, findings: Finding[], rel: string): Doc | undefined {
  try {
    return (parseYaml(readFileSync(file, 'utf8')) ?? {}) as Doc;
  } catch (err) {
    findings.push({ check: 'talos', file: rel, message: `not valid YAML: ${(err as Error).message}` });
    return undefined;
  }
}

export function checkTalos(root: string, findings: Finding[]): number {
  const base = join(root, 'talos', 'generated');
  if (!existsSync(base)) return 0;
  let files = 0;
  for (const cluster of readdirSync(base).sort()) {
    const dir = join(base, cluster);
    const rel = (f: string) => `talos/generated/${cluster}/${f}`;
    const need = (doc: Doc | undefined, f: string, path: string, ok: (v: unknown) => boolean, why: string) => {
      if (doc && !ok(get(doc, path))) findings.push({ check: 'talos', file: rel(f), message: `${path} must be ${why}` });
    };
    const common = existsSync(join(dir, 'common.yaml')) ? load(join(dir, 'common.yaml'), findings, rel('common.yaml')) : undefined;
    if (!common) findings.push({ check: 'talos', file: rel('common.yaml'), message: 'missing: run `task configure`' });
    need(common, 'common.yaml', 'cluster.network.cni.name', (v) => v === 'none', '"none" (the bootstrap installs Cilium)');
    need(common, 'common.yaml', 'cluster.proxy.disabled', (v) => v === true, 'true (Cilium replaces kube-proxy)');
    need(common, 'common.yaml', 'machine.features.kubePrism.enabled', (v) => v === true, 'true (Cilium reaches the API through KubePrism)');
    const worker = existsSync(join(dir, 'worker.yaml')) ? load(join(dir, 'worker.yaml'), findings, rel('worker.yaml')) : undefined;
    const restrictedLabels = (f: string, doc: Doc | undefined) => {
      const labels = get(doc, 'machine.nodeLabels');
      const restricted = labels && typeof labels === 'object' ? Object.keys(labels).filter(kubeletMayNotSet) : [];
      if (restricted.length) {
        findings.push({
          check: 'talos',
          file: rel(f),
          message:
            `machine.nodeLabels has ${restricted.join(', ')}, which a kubelet may not set (NodeRestriction): on workers Talos applies ` +
            'nodeLabels with the kubelet\'s credentials and the whole label update is rejected. Remove it from the patch ' +
            '(the bootstrap sets node-role.kubernetes.io/worker with the admin kubeconfig)',
        });
      }
    };
    restrictedLabels('common.yaml', common);
    restrictedLabels('worker.yaml', worker);
    files += worker ? 1 : 0;
    // Which per-node patches are workers': the rendered infrastructure tfvars name each node's role.
    const tfvars = join(root, 'terraform', 'generated', cluster, '01-infrastructure.tfvars.json');
    let roles: Record<string, { role?: string }> = {};
    try {
      roles = existsSync(tfvars) ? ((JSON.parse(readFileSync(tfvars, 'utf8')) as { nodes?: typeof roles }).nodes ?? {}) : {};
    } catch {
      roles = {}; // the terraform check reports a broken tfvars file
    }
    const cp = existsSync(join(dir, 'controlplane.yaml')) ? load(join(dir, 'controlplane.yaml'), findings, rel('controlplane.yaml')) : undefined;
    const ifaces = (get(cp, 'machine.network.interfaces') ?? []) as Doc[];
    if (cp && !ifaces.some((i) => typeof get(i, 'vip.ip') === 'string')) findings.push({ check: 'talos', file: rel('controlplane.yaml'), message: 'machine.network.interfaces[].vip.ip must hold the API VIP' });
    files += common ? 1 : 0;
    files += cp ? 1 : 0;
    const nodesDir = join(dir, 'nodes');
    for (const f of existsSync(nodesDir) ? readdirSync(nodesDir).sort() : []) {
      const doc = load(join(nodesDir, f), findings, rel(`nodes/${f}`));
      if (!doc) continue;
      files++;
      const name = f.replace(/\.ya?ml$/, '');
      if (roles[name]?.role === 'worker') restrictedLabels(`nodes/${f}`, doc);
      need(doc, `nodes/${f}`, 'machine.network.hostname', (v) => v === name, `"${name}" (the file's node)`);
      const addrs = ((get(doc, 'machine.network.interfaces') ?? []) as Doc[]).flatMap((i) => (get(i, 'addresses') ?? []) as string[]);
      if (addrs.length === 0) findings.push({ check: 'talos', file: rel(`nodes/${f}`), message: 'machine.network.interfaces[].addresses must hold the node\'s static address' });
    }
  }
  return files;
}
