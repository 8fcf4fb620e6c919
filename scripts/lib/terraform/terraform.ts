// terraform argv builders and output parsers: small pure functions, no I/O (bootstrap, destroy and day-2 share them).
//
// Every layer is addressed with -chdir=terraform/<layer> (run from the repository root), one workspace per cluster,
// variables from terraform/generated/<cluster>/<layer>.tfvars.json (absolute path: -chdir changes the directory
// relative paths are read from). Everything runs with -input=false: a prompt would hang an unattended run.
//
//   initArgv(layer)                          terraform -chdir=terraform/L init -input=false -no-color
//   workspaceSelectArgv(layer, ws)           terraform -chdir=… workspace select -or-create WS
//   planArgv(layer, varFile, planFile)       terraform -chdir=… plan -input=false -no-color -detailed-exitcode -var-file=F -out=P
//   applyPlanArgv(layer, planFile)           terraform -chdir=… apply -input=false -no-color P      (applies exactly that plan)
//   outputArgv(layer)                        terraform -chdir=… output -json
//   planOutcome(exitCode)                    0 → 'no-changes', 2 → 'changes', other → 'error'  (-detailed-exitcode)
//   parseOutputs(stdout)                     `output -json` → { name: value }
//   infrastructureOutputs(outputs)           the values the bootstrap reads from 01-infrastructure (throws naming a missing one)

export const TERRAFORM_DIR = 'terraform';

export function layerDir(layer: string): string {
  return `${TERRAFORM_DIR}/${layer}`;
}

function tf(layer: string, ...args: string[]): string[] {
  return ['terraform', `-chdir=${layerDir(layer)}`, ...args];
}

export function initArgv(layer: string): string[] {
  return tf(layer, 'init', '-input=false', '-no-color');
}

export function workspaceSelectArgv(layer: string, workspace: string): string[] {
  return tf(layer, 'workspace', 'select', '-or-create', workspace);
}

export function planArgv(layer: string, varFile: string, planFile: string): string[] {
  return tf(layer, 'plan', '-input=false', '-no-color', '-detailed-exitcode', `-var-file=${varFile}`, `-out=${planFile}`);
}

export function applyPlanArgv(layer: string, planFile: string): string[] {
  return tf(layer, 'apply', '-input=false', '-no-color', planFile);
}

export function outputArgv(layer: string): string[] {
  return tf(layer, 'output', '-json');
}

export function versionArgv(): string[] {
  return ['terraform', 'version'];
}

export type PlanOutcome = 'no-changes' | 'changes' | 'error';

/** `plan -detailed-exitcode`: 0 = nothing to do, 2 = changes planned, 1 = error. */
export function planOutcome(exitCode: number): PlanOutcome {
  return exitCode === 0 ? 'no-changes' : exitCode === 2 ? 'changes' : 'error';
}

/** `terraform output -json` → `{"name": {"sensitive": false, "type": "string", "value": …}}` → { name: value }. */
export function parseOutputs(stdout: string): Record<string, unknown> {
  const raw = JSON.parse(stdout || '{}') as Record<string, { value?: unknown }>;
  return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, v?.value]));
}

/** What the bootstrap reads from layer 01-infrastructure's outputs. */
export interface InfrastructureOutputs {
  /** Image Factory schematic id (64 hex). */
  schematicId: string;
  /** factory.talos.dev/metal-installer/<schematic>:<talos version>: the install image of every node. */
  installerImage: string;
  /** Node name → IP, when the layer exports it (only used to cross-check the config). */
  nodeIps?: Record<string, string>;
}

export const INFRASTRUCTURE_OUTPUTS = ['schematic_id', 'installer_image', 'node_ips'] as const;

export function infrastructureOutputs(outputs: Record<string, unknown>): InfrastructureOutputs {
  const str = (k: string): string => {
    const v = outputs[k];
    if (typeof v !== 'string' || !v) {
      throw new Error(`terraform layer 01-infrastructure has no output "${k}" (have: ${Object.keys(outputs).join(', ') || 'none'})`);
    }
    return v;
  };
  const nodeIps = outputs.node_ips;
  return {
    schematicId: str('schematic_id'),
    installerImage: str('installer_image'),
    ...(nodeIps && typeof nodeIps === 'object' ? { nodeIps: nodeIps as Record<string, string> } : {}),
  };
}

export function parseTerraformVersion(stdout: string): string | undefined {
  return /\bv?\d+\.\d+\.\d+[^\s]*/.exec(stdout)?.[0];
}
