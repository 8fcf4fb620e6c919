// The simulated world: time-based transitions (advance) and derived status (view). Pure functions of
// (state, lab config, now); nothing runs in the background. See test/lab/README.md "Time model".
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';

export const DEFAULT_TIMINGS = {
  vmBoot: 0,
  applyReboot: 0,
  etcdBootstrap: 0,
  etcdJoin: 0,
  apiServer: 0,
  kubeletRegister: 0,
  cniReady: 0,
  fluxInstall: 0,
  kustomizationStep: 0,
  reset: 0,
  reboot: 0,
  upgrade: 0,
  bootstrapWindow: 0,
  waitCapMs: 5000,
};

/** Durations of a real home lab (ms), for the benchmark; scale them with scaleTimings(). */
export const REALISTIC_TIMINGS = {
  vmBoot: 45000,
  applyReboot: 120000,
  etcdBootstrap: 30000,
  etcdJoin: 40000,
  apiServer: 45000,
  kubeletRegister: 20000,
  cniReady: 60000,
  fluxInstall: 60000,
  kustomizationStep: 45000,
  reset: 90000,
  reboot: 90000,
  upgrade: 180000,
  bootstrapWindow: 0,
  waitCapMs: 1800000,
};

export function timingsOf(lab) {
  return { ...DEFAULT_TIMINGS, ...(lab.timings ?? {}) };
}

const max = (...xs) => Math.max(...xs.filter((x) => typeof x === 'number'));

export function faultOn(st, kind, pred = () => true) {
  return (st.faults ?? []).some((f) => f.kind === kind && pred(f));
}

export function nodeMatches(f, n) {
  return f.node === n.ip || f.node === n.name || (n.config?.hostname && f.node === n.config.hostname);
}

/** Is the node's Talos API answering at `now`? */
export function reachability(st, n, now) {
  if (!n || !n.present) return { up: false, why: 'absent' };
  if (faultOn(st, 'node-unreachable', (f) => nodeMatches(f, n))) return { up: false, why: 'unreachable' };
  if (n.upAt == null || now < n.upAt) return { up: false, why: n.downReason ?? 'booting' };
  return { up: true };
}

export function ciliumRelease(st) {
  const r = st.helm?.releases?.['kube-system/cilium'];
  return r && r.status === 'deployed' ? r : undefined;
}

/** When the node's CNI started working (undefined: no CNI). */
function cniSince(st, n, reg) {
  if (faultOn(st, 'cni-gone')) return undefined;
  const c = ciliumRelease(st);
  if (c) return c.readyBase ?? c.firstDeployedAt;
  // Talos deploys flannel itself unless cluster.network.cni.name is none/custom.
  if (n.config && n.config.cni && n.config.cni !== 'none' && n.config.cni !== 'custom') return reg.registeredAt;
  return undefined;
}

export function nodeReadyAt(st, lab, n, reg) {
  if (!reg) return undefined;
  const t = timingsOf(lab);
  const c = cniSince(st, n, reg);
  if (c === undefined || n.upAt == null) return undefined;
  return max(reg.registeredAt, c, n.upAt) + t.cniReady;
}

function nodesByHostname(st) {
  const m = {};
  for (const n of Object.values(st.nodes)) if (n.config?.hostname) m[n.config.hostname] = n;
  return m;
}

/** Applies every transition whose time has come, in time order; mutates st. */
export function advance(st, lab, now) {
  const t = timingsOf(lab);
  for (let guard = 0; guard < 50; guard++) {
    let changed = false;
    const cl = st.etcd?.cluster;
    if (cl && cl.runningAt == null) {
      const boot = st.nodes[cl.bootstrapNode];
      const at = max(cl.bootstrappedAt, boot?.upAt ?? cl.bootstrappedAt) + t.etcdBootstrap;
      if (at <= now) {
        cl.runningAt = at;
        if (boot) boot.etcd = { memberId: cl.members[boot.ip] ?? cl.bootstrapMemberId, joinedAt: cl.bootstrappedAt, runningAt: at };
        changed = true;
      }
    }
    if (cl && cl.runningAt != null) {
      for (const n of Object.values(st.nodes)) {
        if (n.etcd || !n.present || n.mode !== 'configured' || n.config?.type !== 'controlplane') continue;
        if (n.config.k8sCa !== cl.k8sCa) continue;
        if (faultOn(st, 'etcd-member-lost', (f) => nodeMatches(f, n))) continue;
        if (n.upAt == null) continue;
        // Adding a member needs a quorum of the existing ones.
        if (!hasQuorum(st, lab, now)) continue;
        const at = max(cl.runningAt, n.upAt) + t.etcdJoin;
        if (at <= now) {
          const id = n.pendingMemberId ?? hexId(n.ip + at);
          n.etcd = { memberId: id, joinedAt: at, runningAt: at };
          cl.members[n.ip] = id;
          changed = true;
        }
      }
      if (cl.apiUpAt == null) {
        const at = cl.runningAt + t.apiServer;
        if (at <= now) {
          cl.apiUpAt = at;
          changed = true;
        }
      }
    }
    if (cl && cl.apiUpAt != null) {
      for (const n of Object.values(st.nodes)) {
        if (!n.present || n.mode !== 'configured' || !n.config || n.upAt == null) continue;
        if (n.config.k8sCa !== cl.k8sCa) continue;
        const name = n.config.hostname ?? n.name;
        if (st.k8s.nodes[name]) continue;
        // A deleted Node comes back when its kubelet restarts (the node reboots), not before.
        const deletedAt = st.k8s.deletedNodes?.[name];
        if (deletedAt != null && n.upAt <= deletedAt) continue;
        const at = max(cl.apiUpAt, n.upAt) + t.kubeletRegister;
        if (at <= now) {
          st.k8s.nodes[name] = {
            name,
            ip: n.ip,
            role: n.config.type,
            labels: nodeLabelsApplied(n.config),
            registeredAt: at,
            kubeletVersion: `v${(n.config.kubernetesVersion ?? lab.kubernetesVersion).replace(/^v/, '')}`,
          };
          changed = true;
        }
      }
    }
    const fx = st.flux;
    if (fx && fx.controllersReadyAt == null) {
      const first = firstReadyAt(st, lab);
      if (first !== undefined) {
        const at = max(fx.bootstrappedAt, first) + t.fluxInstall;
        if (at <= now) {
          fx.controllersReadyAt = at;
          changed = true;
        }
      }
    }
    if (fx) {
      // A Kustomization stuck on a bad revision loses Ready; when the fault is gone it reconciles again.
      for (const k of fx.kustomizations) {
        const stuck = faultOn(st, 'flux-stuck', (f) => f.kustomization === k.name || f.kustomization === `${k.namespace}/${k.name}`);
        if (stuck && !k.stuck) {
          k.stuck = true;
          k.readyAt = null;
          changed = true;
        } else if (!stuck && k.stuck) {
          k.stuck = false;
          k.appliedAt = now;
          changed = true;
        }
      }
    }
    if (fx && fx.controllersReadyAt != null) {
      for (const k of fx.kustomizations) {
        if (k.readyAt != null || k.suspended || k.stuck || k.buildError) continue;
        if (k.requires && !inFluxSource(lab, k.requires)) continue;
        // Of a build (fluxrepo.mjs): not before its own path is built (reconcileFlux).
        if (fx.perPath && k.builtFrom == null && !(k.name === 'flux-system' && k.namespace === 'flux-system')) continue;
        const deps = depsOf(fx, k);
        if (deps.some((d) => !d || d.readyAt == null)) continue;
        // What its build needs in the cluster first (fluxrepo.mjs): the substituteFrom ConfigMaps/Secrets and the
        // Secrets its health checks wait for, each applied by a Kustomization that must be Ready.
        const providers = providersOf(fx, k);
        if (providers.some((d) => !d || (d !== k && d.readyAt == null))) continue;
        const at = max(fx.controllersReadyAt, k.appliedAt, ...deps.map((d) => d.readyAt), ...providers.filter((d) => d !== k).map((d) => d.readyAt)) + t.kustomizationStep;
        if (at <= now) {
          k.readyAt = at;
          changed = true;
        }
      }
    }
    if (!changed) break;
  }
  return st;
}

export function depsOf(fx, k) {
  const deps = (k.dependsOn ?? []).map((d) => {
    const [ns, name] = d.includes('/') ? d.split('/') : [k.namespace, d];
    return fx.kustomizations.find((x) => x.name === name && x.namespace === ns);
  });
  // Everything the flux-system Kustomization applies waits for it.
  if (k.name !== 'flux-system' || k.namespace !== 'flux-system') {
    const root = fx.kustomizations.find((x) => x.name === 'flux-system' && x.namespace === 'flux-system');
    if (root && !deps.includes(root)) deps.push(root);
  }
  return deps;
}

const byId = (fx, id) => fx.kustomizations.find((x) => `${x.namespace}/${x.name}` === id);

/** The Kustomizations that apply what k's build needs (undefined: nothing applies it, k cannot become Ready). */
function providersOf(fx, k) {
  return [...(k.needs ?? []).map((n) => byId(fx, n.by)), ...(k.healthSecrets ?? []).map((h) => (h.by ? byId(fx, h.by) : undefined))];
}

/** Go's time.Duration String() of a Flux duration ("10m" → "10m0s"), for kustomize-controller's messages. */
function goDuration(text) {
  const ms = [...String(text ?? '').matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)].reduce((acc, [, n, u]) => acc + Number(n) * { ms: 1, s: 1000, m: 60000, h: 3600000 }[u], 0);
  const h = Math.floor(ms / 3600000);
  const m = Math.floor((ms % 3600000) / 60000);
  const sec = (ms % 60000) / 1000;
  return h ? `${h}h${m}m${sec}s` : m ? `${m}m${sec}s` : `${sec}s`;
}

export function firstReadyAt(st, lab) {
  let first;
  const byName = nodesByHostname(st);
  for (const reg of Object.values(st.k8s.nodes)) {
    const n = byName[reg.name] ?? st.nodes[reg.ip];
    if (!n) continue;
    const at = nodeReadyAt(st, lab, n, reg);
    if (at !== undefined && (first === undefined || at < first)) first = at;
  }
  return first;
}

/** When the last copy of etcd's data is gone (no node holds a member), so is everything the cluster stored in it. */
export function dropClusterIfNoData(st) {
  if (!st.etcd.cluster || Object.values(st.nodes).some((n) => n.etcd)) return;
  st.etcd.cluster = null;
  st.k8s.objects = {};
  st.k8s.nodes = {};
  st.helm.releases = {};
  st.flux = null;
}

export function hexId(seed) {
  let h = 2166136261;
  for (const c of String(seed)) h = Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0;
  let h2 = Math.imul(h ^ 0x9e3779b9, 2654435761) >>> 0;
  return (h.toString(16).padStart(8, '0') + h2.toString(16).padStart(8, '0')).replace(/^0+/, '') || '1';
}

// ---------------------------------------------------------------------------------------------------------------
// Derived status

/** etcd service state on a node: Running | Preparing | Failed | (undefined: not a configured control plane). */
export function etcdService(st, lab, n, now) {
  if (!n || n.mode !== 'configured' || n.config?.type !== 'controlplane') return undefined;
  if (faultOn(st, 'etcd-member-lost', (f) => nodeMatches(f, n))) return { state: 'Failed', health: 'Fail', message: 'etcd member was removed from the cluster' };
  const cl = st.etcd?.cluster;
  if (n.etcd && n.etcd.runningAt <= now && cl) return { state: 'Running', health: 'OK', since: n.etcd.runningAt };
  return { state: 'Preparing', health: '?', message: cl ? 'Waiting to join the etcd cluster' : 'Waiting for etcd bootstrap' };
}

/** Members that answer: running etcd on a reachable node. */
export function healthyMembers(st, lab, now) {
  const cl = st.etcd?.cluster;
  if (!cl) return [];
  return Object.keys(cl.members).filter((ip) => {
    const n = st.nodes[ip];
    return n && reachability(st, n, now).up && etcdService(st, lab, n, now)?.state === 'Running';
  });
}

export function hasQuorum(st, lab, now) {
  const cl = st.etcd?.cluster;
  if (!cl || cl.runningAt == null) return false;
  const total = Object.keys(cl.members).length;
  return total > 0 && healthyMembers(st, lab, now).length * 2 > total;
}

/** Does kube-apiserver answer on this node's IP? */
export function apiServerOn(st, lab, n, now) {
  const cl = st.etcd?.cluster;
  if (!cl || cl.apiUpAt == null || now < cl.apiUpAt) return false;
  if (!n || !reachability(st, n, now).up || n.config?.type !== 'controlplane') return false;
  if (n.config.k8sCa !== cl.k8sCa) return false;
  const t = timingsOf(lab);
  if (!n.etcd || n.etcd.runningAt + (n.ip === cl.bootstrapNode ? t.apiServer : 0) > now) return false;
  return hasQuorum(st, lab, now);
}

/** The control plane holding the VIP, if any (VIP election runs through etcd: only after bootstrap). */
export function vipHolder(st, lab, now) {
  if (faultOn(st, 'vip-down')) return undefined;
  const cands = Object.values(st.nodes)
    .filter((n) => n.config?.vip && n.config.vip === lab.vip && apiServerOn(st, lab, n, now))
    .sort((a, b) => a.etcd.runningAt - b.etcd.runningAt);
  return cands[0];
}

/** k8s Node objects with their Ready condition at now. */
export function k8sNodes(st, lab, now) {
  const byName = nodesByHostname(st);
  return Object.values(st.k8s.nodes).map((reg) => {
    const n = byName[reg.name] ?? st.nodes[reg.ip];
    const r = reachability(st, n, now);
    let ready = false;
    let reason;
    let message;
    const readyAt = n ? nodeReadyAt(st, lab, n, reg) : undefined;
    if (!n || !r.up || n.mode !== 'configured') {
      reason = 'NodeStatusUnknown';
      message = 'Kubelet stopped posting node status.';
    } else if (readyAt === undefined || now < readyAt) {
      reason = 'KubeletNotReady';
      message = 'container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized';
    } else {
      ready = true;
      reason = 'KubeletReady';
      message = 'kubelet is posting ready status';
    }
    return { ...reg, ready, reason, message, readyAt, node: n };
  });
}

/** Are Flux's controllers installed and ready at now? */
export function fluxUp(st, now) {
  const fx = st.flux;
  return !!fx && fx.controllersReadyAt != null && fx.controllersReadyAt <= now;
}

/** Flux Kustomization status at now: { ready: 'True'|'False'|'Unknown', reason, message }. */
export function kustomizationStatus(st, lab, k, now) {
  const fx = st.flux;
  const stuck = (st.faults ?? []).find((f) => f.kind === 'flux-stuck' && (f.kustomization === k.name || f.kustomization === `${k.namespace}/${k.name}`));
  if (stuck) {
    return { ready: 'False', reason: stuck.reason ?? 'HealthCheckFailed', message: stuck.message ?? `health check failed after 4m0s: timeout waiting for: [HelmRelease/${k.namespace}/${k.name} status: 'InProgress']` };
  }
  const root = k.name === 'flux-system' && k.namespace === 'flux-system';
  // The build of the Flux path failed (fluxrepo.mjs): kustomize-controller's reason and message, nothing new applied.
  if (root && k.buildError && fluxUp(st, now)) return { ready: 'False', reason: k.buildError.reason, message: k.buildError.message };
  const notReady = depsOf(fx, k).find((d) => d && (d.stuck || (k.readyAt == null && (d.readyAt == null || d.readyAt > now))));
  if (k.readyAt != null && k.readyAt <= now && !notReady) {
    return { ready: 'True', reason: 'ReconciliationSucceeded', message: `Applied revision: ${fx.branch}@sha1:${fx.revision}`, at: k.readyAt };
  }
  if (!fluxUp(st, now)) return undefined; // never reconciled yet
  // kustomize-controller v1.7.2 kustomization_controller.go: dependencies first (checkDependencies: "dependency
  // '<ns>/<name>' not found: …" / "… is not ready", DependencyNotReady), then the artifact, the build and postBuild
  // (ArtifactFailed / BuildFailed), then the health checks (Ready Unknown while they run).
  const missing = (k.dependsOn ?? []).find((d) => !fx.kustomizations.some((x) => `${x.namespace}/${x.name}` === d));
  if (missing) {
    return { ready: 'False', reason: 'DependencyNotReady', message: `dependency '${missing}' not found: kustomizations.kustomize.toolkit.fluxcd.io "${missing.split('/')[1]}" not found` };
  }
  if (notReady) {
    return { ready: 'False', reason: 'DependencyNotReady', message: `dependency '${notReady.namespace}/${notReady.name}' is not ready` };
  }
  if (k.buildError) return { ready: 'False', reason: k.buildError.reason, message: k.buildError.message };
  if (k.readyAt == null && k.requires && !inFluxSource(lab, k.requires)) {
    // What kustomize-controller reports when the build references a file the source lacks (flux2 v2.7
    // kustomize-controller internal/controller/kustomization_controller.go: BuildFailed).
    return { ready: 'False', reason: 'BuildFailed', message: `kustomize build failed: accumulating resources: open ${k.requires}: no such file or directory` };
  }
  const ready = (id) => {
    const d = byId(fx, id);
    return d && d.readyAt != null && d.readyAt <= now;
  };
  // substituteFrom reads a ConfigMap/Secret that is not applied yet: fluxcd/pkg kustomize_varsub.go's not-found error.
  const unread = (k.needs ?? []).find((n) => !ready(n.by));
  if (unread) return { ready: 'False', reason: 'BuildFailed', message: unread.message };
  if ((k.healthSecrets ?? []).some((h) => !h.by || (h.by !== `${k.namespace}/${k.name}` && !ready(h.by)))) {
    return { ready: 'Unknown', reason: 'Progressing', message: `Running health checks for revision ${fx.branch}@sha1:${fx.revision} with a timeout of ${goDuration(k.spec?.timeout ?? k.spec?.interval)}` };
  }
  return { ready: 'Unknown', reason: 'Progressing', message: 'Reconciliation in progress' };
}

/** A plain summary for tests (lab.state()). */
export function summarize(st, lab, now) {
  const nodes = lab.nodes.map((ln) => {
    const n = st.nodes[ln.ip];
    const r = reachability(st, n, now);
    const reg = n ? Object.values(st.k8s.nodes).find((x) => x.ip === n.ip) : undefined;
    const kn = reg ? k8sNodes(st, lab, now).find((x) => x.name === reg.name) : undefined;
    return {
      name: ln.name,
      ip: ln.ip,
      role: ln.role,
      present: !!n?.present,
      reachable: r.up,
      down: r.up ? undefined : r.why,
      mode: n?.present ? n.mode : undefined,
      configType: n?.config?.type,
      hostname: n?.config?.hostname,
      talosVersion: n?.talosVersion,
      installImage: n?.config?.installImage,
      applyCount: n?.applyCount ?? 0,
      etcd: etcdService(st, lab, n, now)?.state,
      etcdMember: !!n?.etcd,
      apiServer: apiServerOn(st, lab, n, now),
      k8s: kn ? { name: kn.name, ready: kn.ready, reason: kn.reason, labels: { ...(reg.labels ?? {}) } } : undefined,
    };
  });
  const fx = st.flux;
  return {
    now,
    nodes,
    etcd: {
      bootstrapped: !!st.etcd.cluster,
      running: st.etcd.cluster?.runningAt != null && st.etcd.cluster.runningAt <= now,
      bootstrapNode: st.etcd.cluster?.bootstrapNode,
      members: Object.keys(st.etcd.cluster?.members ?? {}),
      quorum: hasQuorum(st, lab, now),
      bootstraps: st.etcd.bootstraps.length,
      splitBrain: st.etcd.splitBrain,
      recoveredFrom: st.etcd.cluster?.recoveredFrom,
      recoveredSha256: st.etcd.cluster?.recoveredSha256,
    },
    vipUp: !!vipHolder(st, lab, now),
    cilium: ciliumRelease(st) ? { version: ciliumRelease(st).version, revision: ciliumRelease(st).revision } : undefined,
    helmReleases: Object.keys(st.helm.releases),
    flux: fx
      ? {
          bootstrapped: true,
          bootstrapCount: fx.bootstrapCount,
          controllersReady: fluxUp(st, now),
          kustomizations: fx.kustomizations.map((k) => ({
            name: k.name,
            namespace: k.namespace,
            dependsOn: k.dependsOn ?? [],
            suspended: !!k.suspended,
            ready: kustomizationStatus(st, lab, k, now)?.ready ?? 'Unknown',
            reason: kustomizationStatus(st, lab, k, now)?.reason,
            message: kustomizationStatus(st, lab, k, now)?.message,
            readyAt: k.readyAt,
          })),
        }
      : undefined,
    objects: Object.keys(st.k8s.objects),
    terraform: st.terraform.layers,
    faults: st.faults,
  };
}

// Labels a kubelet may set on its own Node: kubernetes v1.34 staging/src/k8s.io/kubelet/pkg/apis/well_known_labels.go
// (kubeletLabels, kubeletLabelNamespaces, IsKubeletLabel) and plugin/pkg/admission/noderestriction/admission.go
// (getForbiddenLabels: node-restriction.kubernetes.io/*, and kubernetes.io / k8s.io namespaces unless IsKubeletLabel).
const KUBELET_LABELS = new Set([
  'kubernetes.io/hostname', 'topology.kubernetes.io/zone', 'topology.kubernetes.io/region', 'failure-domain.beta.kubernetes.io/zone',
  'failure-domain.beta.kubernetes.io/region', 'node.kubernetes.io/instance-type', 'beta.kubernetes.io/instance-type', 'kubernetes.io/os',
  'kubernetes.io/arch', 'beta.kubernetes.io/os', 'beta.kubernetes.io/arch',
]);
const inNamespace = (ns, domain) => ns === domain || ns.endsWith(`.${domain}`);
export function kubeletMayNotSet(label) {
  const ns = label.includes('/') ? label.slice(0, label.indexOf('/')) : '';
  if (inNamespace(ns, 'node-restriction.kubernetes.io')) return true;
  if (!inNamespace(ns, 'kubernetes.io') && !inNamespace(ns, 'k8s.io')) return false;
  return !(KUBELET_LABELS.has(label) || inNamespace(ns, 'kubelet.kubernetes.io') || inNamespace(ns, 'node.kubernetes.io'));
}

/**
 * machine.nodeLabels as they end up on the Node. Talos v1.11.6 internal/app/machined/pkg/controllers/k8s/node_apply.go
 * applies them with the kubelet's credentials on workers (admin credentials on control planes): one label
 * NodeRestriction forbids rejects the whole update, so a worker gets none of them (siderolabs/talos#10122).
 */
function nodeLabelsApplied(config) {
  const labels = config.nodeLabels ?? {};
  if (config.type !== 'controlplane' && Object.keys(labels).some(kubeletMayNotSet)) return {};
  return labels;
}

/** Is `rel` in what Flux reads: the origin branch when the lab has an origin (pushed, not just committed), else repoDir. */
function inFluxSource(lab, rel) {
  if (!lab.originDir) return fs.existsSync(path.join(lab.repoDir, rel));
  return spawnSync('git', ['--git-dir', lab.originDir, 'cat-file', '-e', `refs/heads/${lab.originBranch ?? 'main'}:${rel}`], { stdio: 'ignore' }).status === 0;
}
