// Types for fluxrepo.mjs.
export interface LabKustomization {
  name: string;
  namespace: string;
  dependsOn: string[];
  labels: Record<string, string>;
  spec: Record<string, unknown>;
  suspended: boolean;
  file?: string;
}
export function discoverKustomizations(repoDir: string, fluxPath: string, parseAll: (text: string) => any[]): LabKustomization[];
export function fluxSystemKustomization(fluxPath: string): LabKustomization;
export function explicitKustomizations(list: { name: string; namespace?: string; dependsOn?: string[]; labels?: Record<string, string> }[]): LabKustomization[];
export function kustomizationsFor(
  explicit: { name: string; namespace?: string; dependsOn?: string[]; labels?: Record<string, string> }[] | null | undefined,
  repoDir: string,
  fluxPath: string,
  parseAll?: (text: string) => any[],
): LabKustomization[];
export function dependencyDepth(ks: LabKustomization[]): number;
