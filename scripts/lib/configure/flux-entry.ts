import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import type { ClusterConfig } from '../config/load.ts';

// The Flux entry of a cluster (kubernetes/clusters/<cluster>/kustomization.yaml, what `flux bootstrap --path` applies),
// rendered from the config: the cluster-settings ConfigMap plus the Flux Kustomizations of the cluster's role
// (kubernetes/clusters/<role>/flux, shared by every cluster of that role), with the per-cluster differences as
// kustomize patches — the cluster's own secrets path, and no Kustomization whose config section is absent. Pure apart
// from reading the role's tree (a template, like talos/patches).

/** Kustomizations that need an optional config section; without it they (and whatever depends on them) are left out. */
export const NEEDS_SECTION: Record<string, 'powerdns' | 'proxmoxCsi' | 'headscale'> = {
  powerdns: 'powerdns',
  'external-dns': 'powerdns',
  // The PowerDNS webhook and the DNS-01 ClusterIssuer answer challenges through PowerDNS.
  'cert-manager-webhook-pdns': 'powerdns',
  'cluster-issuers': 'powerdns',
  // Its host name lives in the zone (${DNS_ZONE}).
  authentik: 'powerdns',
  // Its listeners and certificate are for the zone (${DNS_ZONE}).
  gateway: 'powerdns',
  // Reads the CSI token and the CSI_* settings the proxmoxCsi section provides.
  'proxmox-csi': 'proxmoxCsi',
};

/**
 * Kustomizations that run a server the config may place in another cluster instead (powerdns.external): left out,
 * and whatever depends on them stays, minus that dependency — the server it needs is reachable elsewhere.
 */
export const RUNS_ELSEWHERE: Record<string, (c: ClusterConfig) => string | undefined> = {
  powerdns: (c) => (c.powerdns?.external ? `PowerDNS runs elsewhere (powerdns.external.apiUrl ${c.powerdns.external.apiUrl})` : undefined),
};

/**
 * Kustomizations that read what the server running elsewhere would have put into this cluster, and build a variant
 * without it then: infra's cluster-issuers takes the PowerDNS API key from Vault, where only the in-cluster server (the
 * powerdns Kustomization) pushes it; with PowerDNS elsewhere it builds the issuer alone (the apps tree's path) and reads
 * the key the bootstrap sealed for cert-manager (cluster-secrets) instead of waiting for Vault's secret store.
 */
export const ELSEWHERE_VARIANT: Record<string, { server: string; path: string; dependsOn: Record<string, string> }> = {
  'cluster-issuers': { server: 'powerdns', path: './kubernetes/platform/cluster-issuers/issuer', dependsOn: { 'secret-stores': 'cluster-secrets' } },
};

export function roleTreeDir(role: string): string {
  return `kubernetes/clusters/${role}/flux`;
}

export interface FluxKustomizationRef {
  name: string;
  dependsOn: string[];
  file: string;
  path?: string;
}

/** The Flux Kustomizations of a role's tree: every YAML file of its directory except kustomization.yaml. */
export function roleKustomizations(root: string, role: string): FluxKustomizationRef[] {
  const dir = join(root, roleTreeDir(role));
  if (!existsSync(dir)) return [];
  const out: FluxKustomizationRef[] = [];
  for (const f of readdirSync(dir).filter((n) => /\.ya?ml$/.test(n) && n !== 'kustomization.yaml').sort()) {
    for (const d of parseAllDocuments(readFileSync(join(dir, f), 'utf8'))) {
      const o = d.toJS() as { kind?: string; apiVersion?: string; metadata?: { name?: string }; spec?: { path?: string; dependsOn?: { name: string }[] } } | null;
      if (o?.kind !== 'Kustomization' || !String(o.apiVersion).startsWith('kustomize.toolkit.fluxcd.io/')) continue;
      const deps = (o.spec?.dependsOn ?? []).map((x) => x.name);
      out.push({ name: String(o.metadata?.name), dependsOn: deps, file: `${roleTreeDir(role)}/${f}`, ...(o.spec?.path ? { path: o.spec.path } : {}) });
    }
  }
  return out;
}

/** Names left out for this config: those whose section is absent, then, transitively, those depending on them. */
export function omittedKustomizations(c: ClusterConfig, ks: FluxKustomizationRef[]): Map<string, string> {
  const why = new Map<string, string>();
  const elsewhere = elsewhereKustomizations(c, ks);
  for (const k of ks) {
    const section = NEEDS_SECTION[k.name];
    if (elsewhere.has(k.name)) why.set(k.name, elsewhere.get(k.name)!);
    else if (section && c[section] === undefined) why.set(k.name, `needs the ${section} section`);
  }
  for (let changed = true; changed; ) {
    changed = false;
    for (const k of ks) {
      if (why.has(k.name)) continue;
      const dep = k.dependsOn.find((d) => why.has(d) && !elsewhere.has(d));
      if (dep) {
        why.set(k.name, `depends on ${dep}`);
        changed = true;
      }
    }
  }
  return why;
}

/** The Kustomizations of the tree whose server runs in another cluster, with the reason. */
export function elsewhereKustomizations(c: ClusterConfig, ks: FluxKustomizationRef[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const k of ks) {
    const reason = RUNS_ELSEWHERE[k.name]?.(c);
    if (reason) out.set(k.name, reason);
  }
  return out;
}

export function renderFluxEntry(c: ClusterConfig, root: string, note: string): string {
  const name = c.cluster.name;
  const role = c.cluster.role;
  const ks = roleKustomizations(root, role);
  const omitted = omittedKustomizations(c, ks);
  const patches: Record<string, unknown>[] = [];
  if (ks.some((k) => k.name === 'cluster-secrets')) {
    patches.push({
      target: { group: 'kustomize.toolkit.fluxcd.io', kind: 'Kustomization', name: 'cluster-secrets' },
      patch: stringify([{ op: 'replace', path: '/spec/path', value: `./kubernetes/clusters/${name}/secrets` }]),
    });
  }
  // Kept Kustomizations lose their dependency on a server that runs elsewhere (a JSON patch of the whole list: kustomize
  // knows no merge key for Flux's dependsOn), and build their variant without what that server provides.
  const elsewhere = elsewhereKustomizations(c, ks);
  for (const k of ks) {
    if (omitted.has(k.name)) continue;
    const v = ELSEWHERE_VARIANT[k.name];
    const variant = v && elsewhere.has(v.server) && k.path !== v.path ? v : undefined;
    const deps = [...new Set(k.dependsOn.filter((d) => !elsewhere.has(d)).map((d) => variant?.dependsOn[d] ?? d))];
    if (!variant && deps.length === k.dependsOn.length) continue;
    patches.push({
      target: { group: 'kustomize.toolkit.fluxcd.io', kind: 'Kustomization', name: k.name },
      patch: stringify([
        { op: 'replace', path: '/spec/dependsOn', value: deps.map((name) => ({ name })) },
        ...(variant ? [{ op: 'replace', path: '/spec/path', value: variant.path }] : []),
      ]),
    });
  }
  for (const [k] of [...omitted].sort(([a], [b]) => a.localeCompare(b))) {
    patches.push({
      patch: stringify({ $patch: 'delete', apiVersion: 'kustomize.toolkit.fluxcd.io/v1', kind: 'Kustomization', metadata: { name: k, namespace: 'flux-system' } }),
    });
  }
  const doc = {
    apiVersion: 'kustomize.config.k8s.io/v1beta1',
    kind: 'Kustomization',
    // monitoring.yaml and backups.yaml: this cluster's Kustomizations of those optional sections (comments only without).
    resources: ['cluster-settings.yaml', name === role ? 'flux' : `../${role}/flux`, 'monitoring.yaml', 'backups.yaml'],
    ...(patches.length ? { patches } : {}),
  };
  const left = [...omitted].map(([k, w]) => `#   ${k}: ${w}`);
  return [
    `# ${note}`,
    `# What the flux-system Kustomization (\`flux bootstrap github --path kubernetes/clusters/${name}\`) applies:`,
    `# the cluster-settings ConfigMap and the Flux Kustomizations of role "${role}" (${roleTreeDir(role)}),`,
    '# with this cluster\'s secrets path. The flux-system/ directory that `flux bootstrap` commits next to this file is',
    '# deliberately not listed: the bootstrap owns Flux\'s own components and re-applies them on every run (`task',
    '# validate` checks that).',
    ...(left.length ? ['# Left out (their config section is absent, or what they run runs elsewhere):', ...left] : []),
    stringify(doc, { lineWidth: 0 }).trimEnd(),
    '',
  ].join('\n');
}

export function renderSecretsReadme(c: ClusterConfig, note: string): string {
  return `<!-- ${note} -->

# Sealed secrets of cluster ${c.cluster.name}

The scripts write SealedSecrets here (never plaintext):

- \`powerdns-api-key.sealed.yaml\`: Secret \`dns-system/powerdns-api-key\` (key \`api-key\`), by the bootstrap (phase
  \`secrets\`) when the config has a \`powerdns\` section; with \`powerdns.external\` also
  \`cert-manager-powerdns-api-key.sealed.yaml\` (Secret \`cert-manager/powerdns-api-key\`, the DNS-01 issuer's key:
  no PowerDNS here puts it into a Vault).
- \`proxmox-csi-plugin.sealed.yaml\`: Secret \`csi-proxmox/proxmox-csi-plugin\` (key \`config.yaml\`), by
  \`task storage:csi-token\`.
- \`backup-target.sealed.yaml\` and \`<namespace>-backup-target.sealed.yaml\`: Secret \`backup-target\` (the backup
  target's keys from .env) of each namespace that writes backups, by the bootstrap when the config has \`backups\`.
- \`alertmanager-receiver.sealed.yaml\` (\`monitoring.alerts.receiver: webhook\`, .env ALERT_WEBHOOK_URL) or
  \`matrix-alertmanager-receiver.sealed.yaml\` (\`receiver: matrix\`, .env ALERT_MATRIX_ACCESS_TOKEN): the alert
  receiver's credential in namespace \`monitoring\`, by the bootstrap.

There is no \`kustomization.yaml\` on purpose: the \`cluster-secrets\` Flux Kustomization points at this directory (its
path comes from the generated \`../kustomization.yaml\`) and Flux applies every manifest it finds, so a file that does
not exist yet breaks nothing. Seal with the committed certificate:
\`kubeseal --cert ../sealed-secrets-cert.pem --format yaml < secret.yaml > NAME.sealed.yaml\`.
`;
}
