import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { REPO_ROOT } from '../../scripts/lib/core/paths.ts';
import { Logger } from '../../scripts/lib/core/log.ts';
import { runnerExec } from '../../scripts/lib/validate/exec.ts';
import type { Finding } from '../../scripts/lib/validate/model.ts';
import { validateRepository, type ValidateReport } from '../../scripts/lib/validate/run.ts';

// A small repository that passes `task validate`: one cluster "test" with two phased Kustomizations (sources → app;
// only app has a kustomization.yaml, the others are built the way Flux generates one, which keeps tests fast),
// a HelmRelease using ${CLUSTER_NAME} from cluster-settings, a Terraform layer with its generated tfvars, a Talos
// patch set and a Taskfile. Each test breaks one thing and expects exactly that to be reported.

export const BASE: Record<string, string> = {
  'kubernetes/clusters/test/cluster-settings.yaml': `apiVersion: v1
kind: ConfigMap
metadata:
  name: cluster-settings
  namespace: flux-system
data:
  CLUSTER_NAME: test
  REPLICAS: "2"
`,
  'kubernetes/clusters/test/flux.yaml': `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: sources
  namespace: flux-system
spec:
  interval: 30m
  timeout: 5m
  path: ./kubernetes/apps/sources
  prune: true
  wait: true
  sourceRef:
    kind: GitRepository
    name: flux-system
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: app
  namespace: flux-system
spec:
  interval: 30m
  timeout: 5m
  path: ./kubernetes/apps/app
  prune: true
  wait: true
  sourceRef:
    kind: GitRepository
    name: flux-system
  dependsOn:
    - name: sources
  postBuild:
    substituteFrom:
      - kind: ConfigMap
        name: cluster-settings
`,
  'kubernetes/apps/sources/repository.yaml': `apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: podinfo
  namespace: flux-system
spec:
  interval: 12h
  url: https://stefanprodan.github.io/podinfo
`,
  'kubernetes/apps/app/kustomization.yaml': `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - namespace.yaml
  - helmrelease.yaml
`,
  'kubernetes/apps/app/namespace.yaml': `apiVersion: v1
kind: Namespace
metadata:
  name: podinfo
`,
  'kubernetes/apps/app/helmrelease.yaml': `apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: podinfo
  namespace: podinfo
spec:
  interval: 30m
  chart:
    spec:
      chart: podinfo
      version: 6.9.0
      sourceRef:
        kind: HelmRepository
        name: podinfo
        namespace: flux-system
  install:
    remediation:
      retries: 3
  values:
    replicaCount: \${REPLICAS}
    ui:
      message: hello from \${CLUSTER_NAME}
`,
  'terraform/versions.tf': `terraform {
  required_providers {
    proxmox = {
      source  = "bpg/proxmox"
      version = "0.86.0"
    }
  }
}
`,
  'terraform/00-persistent-auth/main.tf': `variable "cluster_name" {
  description = "Cluster name."
  type        = string
}

variable "network" {
  description = "Network."
  type = object({
    cidr = string
    mtu  = number
  })
}

resource "proxmox_virtual_environment_pool" "cluster" {
  pool_id = "k8s-\${var.cluster_name}"
}
`,
  'terraform/01-infrastructure/main.tf': `variable "talos_version" {
  description = "Talos version."
  type        = string
}

output "schematic_id" {
  value = "0000"
}

output "installer_image" {
  value = "factory.talos.dev/metal-installer/0000:\${var.talos_version}"
}

output "node_ips" {
  value = { cp-1 = "10.0.0.11" }
}
`,
  'terraform/generated/test/01-infrastructure.tfvars.json': `{ "talos_version": "v1.11.6" }\n`,
  'terraform/generated/test/00-persistent-auth.tfvars.json': `{ "cluster_name": "test", "network": { "cidr": "10.0.0.0/24", "mtu": 1500 } }\n`,
  'talos/generated/test/common.yaml': `# Talos: v1.11.6
machine:
  features:
    kubePrism:
      enabled: true
      port: 7445
cluster:
  network:
    cni:
      name: none
  proxy:
    disabled: true
`,
  'talos/generated/test/controlplane.yaml': `# Talos: v1.11.6
machine:
  network:
    interfaces:
      - interface: eth0
        vip:
          ip: 10.0.0.10
`,
  'talos/generated/test/nodes/cp-1.yaml': `# Talos: v1.11.6
# Node: cp-1 (controlplane)
machine:
  network:
    hostname: cp-1
    interfaces:
      - interface: eth0
        addresses: ["10.0.0.11/24"]
`,
  'Taskfile.yml': `version: '3'
includes:
  extra: ./tasks/extra.yml
tasks:
  validate:
    cmds: ['npx tsx scripts/validate.ts {{.CLI_ARGS}}']
`,
  'tasks/extra.yml': `version: '3'
tasks:
  hello:
    cmds: ['npx tsx scripts/hello.ts']
`,
  'scripts/validate.ts': '// stand-in\n',
  'scripts/hello.ts': '// stand-in\n',
};

export interface Tree {
  root: string;
  write(path: string, content: string): void;
  remove(path: string): void;
  cleanup(): void;
}

/** Writes BASE (with overrides; null removes a file) into a temp directory; the layer links ../versions.tf. */
export function makeTree(overrides: Record<string, string | null> = {}): Tree {
  const root = mkdtempSync(join(tmpdir(), 'validate-fixture-'));
  const write = (path: string, content: string) => {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), content);
  };
  const files = { ...BASE, ...overrides };
  for (const [path, content] of Object.entries(files)) if (content !== null) write(path, content);
  // Talos' vendored config schema, as in the repository (the talos check reads it from the tree's root).
  if (!Object.keys(overrides).some((p) => p.startsWith('schemas/talos.dev/'))) {
    mkdirSync(join(root, 'schemas'), { recursive: true });
    symlinkSync(join(REPO_ROOT, 'schemas', 'talos.dev'), join(root, 'schemas', 'talos.dev'));
  }
  for (const layer of ['00-persistent-auth', '01-infrastructure']) {
    if (overrides[`terraform/${layer}/versions.tf`] === undefined && files[`terraform/${layer}/main.tf`] !== null) symlinkSync('../versions.tf', join(root, `terraform/${layer}/versions.tf`));
  }
  return { root, write, remove: (p) => rmSync(join(root, p), { force: true }), cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

const log = new Logger({ level: 'error' });

export async function validate(root: string, terraformFmt = false): Promise<ValidateReport> {
  return validateRepository({ root, exec: runnerExec(log), terraformFmt });
}

/** Findings of one check, as one-line strings for readable assertion messages. */
export function only(findings: Finding[], check: Finding['check']): Finding[] {
  return findings.filter((f) => f.check === check);
}

export function show(findings: Finding[]): string {
  return findings.map((f) => `[${f.check}] ${f.file ?? '-'} ${f.object ?? ''}: ${f.message}`).join('\n') || '(none)';
}

/** Runs validate on BASE with overrides and returns the report; always cleans up. */
export async function validateWith(overrides: Record<string, string | null>, edit?: (t: Tree) => void): Promise<ValidateReport> {
  const t = makeTree(overrides);
  try {
    edit?.(t);
    return await validate(t.root);
  } finally {
    t.cleanup();
  }
}
