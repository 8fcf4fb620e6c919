import { join } from 'node:path';
import { stringify } from 'yaml';
import { CommandError } from '../core/runner.ts';
import * as helm from '../helm/helm.ts';
import { labelNodeArgv, missingLabel, nodeLabels, nodesArgv, waitNodesReady, WORKER_ROLE_LABEL } from '../kubernetes/nodes.ts';
import { applyGatewayApiCrdsArgv, GATEWAY_API_VERSION, getGatewayApiCrdsArgv, missingGatewayApiCrds } from '../kubernetes/gateway-api.ts';
import { talosHealth } from '../talos/health.ts';
import { writeAtomic } from '../core/files.ts';
import { ensureMeshCa, meshCaValues } from '../cilium/mesh-ca.ts';
import { firstControlPlane } from '../config/nodes.ts';
import type { StepContext } from '../core/steps.ts';
import { act, deadline, planNote, probe, type PhaseContext, type PhaseOutcome } from './steps.ts';

// Phase 4: the Gateway API CRDs (Cilium's operator looks for them once, at start), Cilium by `helm upgrade --install`
// (the bootstrap owns both, never Flux), then every node Ready, then the workers' role label (with the admin
// kubeconfig: a kubelet may not set node-role.kubernetes.io/*), then the full `talosctl health` — the first moment it
// can pass (see talos.ts).

/** Labels the workers node-role.kubernetes.io/worker where missing (probe first: a labelled node is left alone). */
async function labelWorkers(p: PhaseContext): Promise<number> {
  const workers = p.config.nodes.filter((n) => n.role === 'worker').map((n) => n.name);
  if (!workers.length) return 0;
  const res = await probe(p, nodesArgv());
  const missing = res.dryRun ? workers : res.ok ? missingLabel(nodeLabels(res.stdout), workers, WORKER_ROLE_LABEL) : [];
  if (!res.ok && !res.dryRun) throw new CommandError(res, 'cannot list the nodes to set their role label: is the API reachable?');
  for (const name of missing) await act(p, labelNodeArgv(name, WORKER_ROLE_LABEL));
  if (missing.length) p.note(`labelled ${missing.join(', ')} ${WORKER_ROLE_LABEL}`);
  return missing.length;
}

export function ciliumValuesFile(p: { paths: { dir: string } }): string {
  return join(p.paths.dir, 'cilium-values.yaml');
}

/** Installed, deployed, same chart version and same values ⇒ nothing to do. */
async function ciliumCurrent(p: PhaseContext, values: Record<string, unknown>): Promise<boolean> {
  const list = await probe(p, helm.listArgv(helm.CILIUM_RELEASE, helm.CILIUM_NAMESPACE));
  if (!list.ok) return false;
  const rel = helm.parseList(list.stdout).find((r) => r.name === helm.CILIUM_RELEASE);
  if (!rel || rel.status !== 'deployed' || helm.chartVersion(rel.chart, 'cilium') !== p.config.versions.cilium) return false;
  const got = await probe(p, helm.getValuesArgv(helm.CILIUM_RELEASE, helm.CILIUM_NAMESPACE));
  return got.ok && helm.sameValues(JSON.parse(got.stdout || '{}'), values);
}

/**
 * CRDs first: applied when one is missing or at another bundle version. Returns the CRDs it applied (none when all
 * were current). Shared with the recovery's Cilium re-install, so both install the same thing.
 */
export async function ensureGatewayApiCrds(ctx: StepContext, timeoutMs: number): Promise<string[]> {
  const got = await probe(ctx, getGatewayApiCrdsArgv());
  const missing = got.ok ? missingGatewayApiCrds(got.stdout) : ['(not readable)'];
  if (missing.length === 0) return [];
  await act(ctx, applyGatewayApiCrdsArgv(), {
    timeoutMs,
    hint: 'kubectl could not apply the Gateway API CRDs: is the API reachable (kubectl get --raw /readyz) and https://raw.githubusercontent.com reachable?',
  });
  return missing;
}

async function gatewayApiCrds(p: PhaseContext): Promise<boolean> {
  const applied = await ensureGatewayApiCrds(p, deadline(p, 'helm'));
  p.note(applied.length ? `applied Gateway API ${GATEWAY_API_VERSION} CRDs (${applied.join(', ')})` : `Gateway API ${GATEWAY_API_VERSION} CRDs present`);
  return applied.length > 0;
}

export async function cni(p: PhaseContext): Promise<PhaseOutcome> {
  const c = p.config;
  // With a ClusterMesh, the CA every peer shares (created by the first peer's bootstrap).
  const ca = await ensureMeshCa(p);
  const values = { ...helm.ciliumValues(c), ...(ca ? meshCaValues(ca) : {}) };
  const file = ciliumValuesFile(p);
  p.versions.cilium = c.versions.cilium;
  const crdsApplied = await gatewayApiCrds(p);
  let installed = false;
  if (await ciliumCurrent(p, values)) {
    p.note(`cilium ${c.versions.cilium} already installed with these values`);
  } else {
    if (!planNote(p, `write ${file} (the Cilium values, a pure function of the config)`)) writeAtomic(file, stringify(values), 0o600);
    await act(p, helm.upgradeInstallArgv(helm.ciliumRelease(c, file)), {
      timeoutMs: deadline(p, 'helm'),
      hint: 'helm could not install Cilium: is the API reachable (kubectl get --raw /readyz) and https://helm.cilium.io reachable?',
    });
    installed = true;
    p.note(`installed cilium ${c.versions.cilium}`);
  }

  const names = c.nodes.map((n) => n.name);
  await waitNodesReady(p, {
    what: `every node to be Ready (${names.length})`,
    timeoutMs: deadline(p, 'nodesReady'),
    names,
    diagnose: async () => (await p.runner.probe(['kubectl', '-n', 'kube-system', 'get', 'pods', '-o', 'wide'])).stdout,
    hint: 'Cilium agents must run on every node: `kubectl -n kube-system get pods -l k8s-app=cilium` and `kubectl -n kube-system logs ds/cilium`',
  });

  const labelled = await labelWorkers(p);

  const health = await talosHealth(p, firstControlPlane(c), deadline(p, 'health'));
  if (!health.dryRun && !health.ok) {
    throw new CommandError(health, 'talosctl health names the failing check above; `talosctl -n IP dmesg` and `kubectl get pods -A` help find why');
  }
  return {
    changed: installed || crdsApplied || labelled > 0,
    summary: `${crdsApplied ? `Gateway API ${GATEWAY_API_VERSION} CRDs applied; ` : ''}${installed ? `cilium ${c.versions.cilium} installed` : 'cilium current'}; ${names.length} nodes Ready; talosctl health ok`,
  };
}
