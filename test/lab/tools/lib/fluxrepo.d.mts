// Types for fluxrepo.mjs.
export interface LabKustomization {
  name: string;
  namespace: string;
  dependsOn: string[];
  labels: Record<string, string>;
  spec: Record<string, unknown>;
  suspended: boolean;
}
export interface ExplicitKustomization {
  name: string;
  namespace?: string;
  dependsOn?: string[];
  labels?: Record<string, string>;
  requires?: string;
}
export interface FluxSource {
  kustomizations?: ExplicitKustomization[] | null;
  repoDir: string;
  originDir?: string | null;
  originBranch?: string | null;
}
export interface FluxBuildError {
  reason: 'BuildFailed' | 'ArtifactFailed';
  message: string;
}
export const REAL_KUBECTL: string;
export function fluxSystemKustomization(fluxPath: string): LabKustomization;
export function explicitKustomizations(list: ExplicitKustomization[]): LabKustomization[];
export function buildFluxPath(
  source: FluxSource & { fluxPath: string },
  cacheDir: string,
  parseAll: (text: string) => any[],
): { kustomizations?: LabKustomization[]; error?: FluxBuildError };
export function kustomizationsFor(
  lab: FluxSource,
  fluxPath: string,
  cacheDir: string,
  parseAll: (text: string) => any[],
  opts?: { paths?: boolean; strictSubstitutions?: boolean },
): { kustomizations?: LabKustomization[]; error?: FluxBuildError };
export function dependencyDepth(ks: LabKustomization[]): number;
export function envsubst(text: string, lookup: (name: string) => string | undefined, strict?: boolean): { output: string; unset: string[] };
export function reconcileFlux(dir: string, seen?: { flux?: { pendingPaths?: string } | null }): boolean;
