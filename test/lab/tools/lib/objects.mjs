// The simulated cluster's API objects: stored ones (kubectl apply/create) plus objects derived from the world
// (Nodes, Pods, Flux Kustomizations/GitRepository, Cilium/Flux workloads, helm release Secrets).
import { randomUUID } from 'node:crypto';
import { k8sNodes, kustomizationStatus, ciliumRelease, reachability, apiServerOn, hexId, fluxUp } from './world.mjs';

export const RESOURCES = [
  { kind: 'Node', plural: 'nodes', short: ['no'], namespaced: false, group: '', version: 'v1' },
  { kind: 'Pod', plural: 'pods', short: ['po'], namespaced: true, group: '', version: 'v1' },
  { kind: 'Namespace', plural: 'namespaces', short: ['ns'], namespaced: false, group: '', version: 'v1' },
  { kind: 'Secret', plural: 'secrets', short: [], namespaced: true, group: '', version: 'v1' },
  { kind: 'ConfigMap', plural: 'configmaps', short: ['cm'], namespaced: true, group: '', version: 'v1' },
  { kind: 'ServiceAccount', plural: 'serviceaccounts', short: ['sa'], namespaced: true, group: '', version: 'v1' },
  { kind: 'Service', plural: 'services', short: ['svc'], namespaced: true, group: '', version: 'v1' },
  { kind: 'Event', plural: 'events', short: ['ev'], namespaced: true, group: '', version: 'v1' },
  { kind: 'PersistentVolumeClaim', plural: 'persistentvolumeclaims', short: ['pvc'], namespaced: true, group: '', version: 'v1' },
  { kind: 'PersistentVolume', plural: 'persistentvolumes', short: ['pv'], namespaced: false, group: '', version: 'v1' },
  { kind: 'Deployment', plural: 'deployments', short: ['deploy'], namespaced: true, group: 'apps', version: 'v1' },
  { kind: 'DaemonSet', plural: 'daemonsets', short: ['ds'], namespaced: true, group: 'apps', version: 'v1' },
  { kind: 'StatefulSet', plural: 'statefulsets', short: ['sts'], namespaced: true, group: 'apps', version: 'v1' },
  { kind: 'StorageClass', plural: 'storageclasses', short: ['sc'], namespaced: false, group: 'storage.k8s.io', version: 'v1' },
  { kind: 'CustomResourceDefinition', plural: 'customresourcedefinitions', short: ['crd', 'crds'], namespaced: false, group: 'apiextensions.k8s.io', version: 'v1' },
  { kind: 'Kustomization', plural: 'kustomizations', short: ['ks'], namespaced: true, group: 'kustomize.toolkit.fluxcd.io', version: 'v1', flux: true },
  { kind: 'GitRepository', plural: 'gitrepositories', short: ['gitrepo'], namespaced: true, group: 'source.toolkit.fluxcd.io', version: 'v1', flux: true },
  { kind: 'HelmRelease', plural: 'helmreleases', short: ['hr'], namespaced: true, group: 'helm.toolkit.fluxcd.io', version: 'v2', flux: true },
  { kind: 'HelmRepository', plural: 'helmrepositories', short: ['helmrepo'], namespaced: true, group: 'source.toolkit.fluxcd.io', version: 'v1', flux: true },
  { kind: 'OCIRepository', plural: 'ocirepositories', short: ['ocirepo'], namespaced: true, group: 'source.toolkit.fluxcd.io', version: 'v1', flux: true },
  { kind: 'SealedSecret', plural: 'sealedsecrets', short: [], namespaced: true, group: 'bitnami.com', version: 'v1alpha1' },
];

export const FLUX_CRDS = RESOURCES.filter((r) => r.flux).map((r) => `${r.plural}.${r.group}`);

/** "secret", "secrets", "ks", "kustomizations.kustomize.toolkit.fluxcd.io", "deployment.apps" → resource. */
export function resolveType(token) {
  const t = token.toLowerCase();
  const [head, ...groupParts] = t.split('.');
  const group = groupParts.join('.');
  return RESOURCES.find((r) => {
    const names = [r.plural, r.kind.toLowerCase(), ...r.short];
    if (!names.includes(head)) return false;
    if (!group) return true;
    return r.group === group || `${r.version}.${r.group}` === group || r.group.startsWith(group);
  });
}

export function resourceForKind(apiVersion, kind) {
  const group = apiVersion?.includes('/') ? apiVersion.split('/')[0] : '';
  return RESOURCES.find((r) => r.kind === kind && r.group === group);
}

/** The type word kubectl prints in "secret/x created" and -o name. */
export function typeWord(r) {
  return r.group ? `${r.kind.toLowerCase()}.${r.group}` : r.kind.toLowerCase();
}

/** The plural kubectl prints in NotFound errors: secrets "x", deployments.apps "x". */
export function pluralWord(r) {
  return r.group ? `${r.plural}.${r.group}` : r.plural;
}

export const key = (r, ns, name) => `${r.plural}.${r.group}/${r.namespaced ? ns : ''}/${name}`;

const iso = (t) => new Date(t ?? Date.now()).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** Stores (create/update) an object; returns 'created' | 'configured' | 'unchanged'. */
export function store(st, r, obj, ns, now) {
  const name = obj.metadata?.name;
  const k = key(r, ns, name);
  const prev = st.k8s.objects[k];
  const clean = JSON.parse(JSON.stringify(obj));
  clean.metadata = { ...clean.metadata };
  if (r.namespaced) clean.metadata.namespace = ns;
  else delete clean.metadata.namespace;
  if (obj.kind === 'Secret' && obj.stringData) {
    clean.data = { ...(clean.data ?? {}) };
    for (const [kk, v] of Object.entries(obj.stringData)) clean.data[kk] = Buffer.from(String(v)).toString('base64');
    delete clean.stringData;
  }
  const comparable = (o) => JSON.stringify({ ...o, metadata: { labels: o.metadata?.labels, annotations: o.metadata?.annotations, name: o.metadata?.name }, status: undefined });
  if (prev && comparable(prev) === comparable(clean)) return 'unchanged';
  st.k8s.rv += 1;
  clean.metadata.uid = prev?.metadata?.uid ?? randomUUID();
  clean.metadata.resourceVersion = String(st.k8s.rv);
  clean.metadata.creationTimestamp = prev?.metadata?.creationTimestamp ?? iso(now);
  if (obj.kind === 'Secret' && !clean.type) clean.type = 'Opaque';
  st.k8s.objects[k] = clean;
  return prev ? 'configured' : 'created';
}

export function namespaces(st) {
  const base = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];
  if (st.flux) base.push('flux-system');
  for (const o of Object.values(st.k8s.objects)) if (o.kind === 'Namespace') base.push(o.metadata.name);
  return [...new Set(base)];
}

function nodeObject(st, lab, kn) {
  const n = kn.node;
  const cp = kn.role === 'controlplane';
  const labels = {
    'beta.kubernetes.io/arch': 'amd64',
    'beta.kubernetes.io/os': 'linux',
    'kubernetes.io/arch': 'amd64',
    'kubernetes.io/hostname': kn.name,
    'kubernetes.io/os': 'linux',
    ...(cp ? { 'node-role.kubernetes.io/control-plane': '' } : {}),
    ...(kn.labels ?? {}),
  };
  const taints = [];
  if (cp && !n?.config?.allowSchedulingOnControlPlanes) taints.push({ effect: 'NoSchedule', key: 'node-role.kubernetes.io/control-plane' });
  if (!kn.ready) taints.push({ effect: 'NoSchedule', key: 'node.kubernetes.io/not-ready' });
  const ts = iso(kn.registeredAt);
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: kn.name, labels, annotations: { 'talos.dev/owned-labels': '[]' }, creationTimestamp: ts, uid: hexId(kn.name) },
    spec: { podCIDR: '10.244.0.0/24', podCIDRs: ['10.244.0.0/24'], ...(taints.length ? { taints } : {}) },
    status: {
      addresses: [{ address: kn.ip, type: 'InternalIP' }, { address: kn.name, type: 'Hostname' }],
      conditions: [
        { type: 'MemoryPressure', status: 'False', reason: 'KubeletHasSufficientMemory', message: 'kubelet has sufficient memory available', lastHeartbeatTime: ts, lastTransitionTime: ts },
        { type: 'DiskPressure', status: 'False', reason: 'KubeletHasNoDiskPressure', message: 'kubelet has no disk pressure', lastHeartbeatTime: ts, lastTransitionTime: ts },
        { type: 'PIDPressure', status: 'False', reason: 'KubeletHasSufficientPID', message: 'kubelet has sufficient PID available', lastHeartbeatTime: ts, lastTransitionTime: ts },
        { type: 'Ready', status: kn.ready ? 'True' : kn.reason === 'NodeStatusUnknown' ? 'Unknown' : 'False', reason: kn.reason, message: kn.message, lastHeartbeatTime: ts, lastTransitionTime: iso(kn.readyAt ?? kn.registeredAt) },
      ],
      nodeInfo: {
        architecture: 'amd64',
        containerRuntimeVersion: 'containerd://2.1.4',
        kernelVersion: '6.12.57-talos',
        kubeletVersion: kn.kubeletVersion,
        operatingSystem: 'linux',
        osImage: `Talos (${n?.talosVersion ?? lab.talosVersion})`,
      },
    },
  };
}

function pod(ns, name, node, phase, ready, labels = {}, reason) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns, labels, creationTimestamp: iso() },
    spec: { nodeName: node },
    status: {
      phase,
      conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', ...(reason ? { reason } : {}) }],
      containerStatuses: [{ name: name.split('-')[0], ready, restartCount: 0, state: ready ? { running: {} } : { waiting: { reason: reason ?? 'ContainerCreating' } } }],
    },
  };
}

function deployment(ns, name, available, replicas = 1, group = 'apps') {
  return {
    apiVersion: `${group}/v1`,
    kind: 'Deployment',
    metadata: { name, namespace: ns, creationTimestamp: iso(), generation: 1 },
    spec: { replicas },
    status: {
      observedGeneration: 1,
      replicas,
      readyReplicas: available ? replicas : 0,
      availableReplicas: available ? replicas : 0,
      updatedReplicas: replicas,
      conditions: [
        { type: 'Available', status: available ? 'True' : 'False', reason: available ? 'MinimumReplicasAvailable' : 'MinimumReplicasUnavailable', message: available ? 'Deployment has minimum availability.' : 'Deployment does not have minimum availability.' },
        { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable' },
      ],
    },
  };
}

export const FLUX_CONTROLLERS = ['helm-controller', 'kustomize-controller', 'notification-controller', 'source-controller'];

/**
 * Is the sealed-secrets controller running? The lab cannot render what Flux applies, so: a helm release, or a Ready
 * Kustomization / stored HelmRelease, whose name contains "sealed-secrets".
 */
export function sealedSecretsInstalled(st, now) {
  if (Object.values(st.helm.releases).some((r) => /sealed-secrets/.test(r.name) && r.status === 'deployed')) return true;
  if ((st.flux?.kustomizations ?? []).some((k) => /sealed-secrets/.test(k.name) && k.readyAt != null && k.readyAt <= now)) return true;
  return Object.keys(st.k8s.objects).some((k) => k.startsWith('helmreleases.helm.toolkit.fluxcd.io/') && /sealed-secrets/.test(k.split('/').pop()));
}

/** Every object of a resource type at now (derived + stored), unfiltered by namespace. */
export function listObjects(st, lab, now, r) {
  const out = [];
  const kns = k8sNodes(st, lab, now);
  const readyNodes = kns.filter((k) => k.ready);
  const cilium = ciliumRelease(st);
  const fx = st.flux;
  const up = fluxUp(st, now);
  switch (r.kind) {
    case 'Node':
      out.push(...kns.map((k) => nodeObject(st, lab, k)));
      break;
    case 'Namespace':
      for (const ns of namespaces(st)) {
        const stored = st.k8s.objects[key(r, '', ns)];
        out.push(stored ?? { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, creationTimestamp: iso(), labels: { 'kubernetes.io/metadata.name': ns } }, spec: { finalizers: ['kubernetes'] }, status: { phase: 'Active' } });
      }
      return out.map((o) => ({ ...o, status: { phase: 'Active', ...(o.status ?? {}) } }));
    case 'Pod':
      for (const k of kns) {
        if (k.role === 'controlplane' && apiServerOn(st, lab, k.node, now)) {
          for (const c of ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler']) out.push(pod('kube-system', `${c}-${k.name}`, k.name, 'Running', true, { tier: 'control-plane', 'k8s-app': c }));
        }
        if (cilium) out.push(pod('kube-system', `cilium-${hexId(k.name).slice(0, 5)}`, k.name, k.ready ? 'Running' : 'Pending', k.ready, { 'k8s-app': 'cilium' }, k.ready ? undefined : 'PodInitializing'));
      }
      if (kns.length) {
        for (const i of [0, 1]) out.push(pod('kube-system', `coredns-${hexId(`dns${i}`).slice(0, 10)}-${hexId(`c${i}`).slice(0, 5)}`, readyNodes[0]?.name ?? '', readyNodes.length ? 'Running' : 'Pending', readyNodes.length > 0, { 'k8s-app': 'kube-dns' }, readyNodes.length ? undefined : 'Unschedulable'));
      }
      if (cilium) out.push(pod('kube-system', `cilium-operator-${hexId('op').slice(0, 10)}-${hexId('op2').slice(0, 5)}`, readyNodes[0]?.name ?? kns[0]?.name ?? '', 'Running', true, { 'io.cilium/app': 'operator' }));
      if (fx) for (const c of FLUX_CONTROLLERS) out.push(pod('flux-system', `${c}-${hexId(c).slice(0, 10)}-${hexId(`${c}x`).slice(0, 5)}`, readyNodes[0]?.name ?? '', up ? 'Running' : 'Pending', up, { app: c }, up ? undefined : 'Unschedulable'));
      break;
    case 'Deployment':
      if (kns.length) out.push(deployment('kube-system', 'coredns', readyNodes.length > 0, 2));
      if (cilium) out.push(deployment('kube-system', 'cilium-operator', readyNodes.length > 0 || kns.length > 0, Math.min(2, kns.length || 1)));
      if (fx) for (const c of FLUX_CONTROLLERS) out.push(deployment('flux-system', c, up));
      if (sealedSecretsInstalled(st, now)) out.push(deployment('kube-system', 'sealed-secrets-controller', readyNodes.length > 0));
      break;
    case 'DaemonSet':
      if (cilium) {
        const n = kns.length;
        const ready = readyNodes.length;
        out.push({
          apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'cilium', namespace: 'kube-system', creationTimestamp: iso(cilium.firstDeployedAt), generation: cilium.revision },
          spec: {}, status: { desiredNumberScheduled: n, currentNumberScheduled: n, numberReady: ready, numberAvailable: ready, updatedNumberScheduled: n, observedGeneration: cilium.revision },
        });
      }
      break;
    case 'Secret':
      for (const rel of Object.values(st.helm.releases)) {
        out.push({ apiVersion: 'v1', kind: 'Secret', type: 'helm.sh/release.v1', metadata: { name: `sh.helm.release.v1.${rel.name}.v${rel.revision}`, namespace: rel.namespace, labels: { name: rel.name, owner: 'helm', status: rel.status, version: String(rel.revision) }, creationTimestamp: iso(rel.updatedAt) }, data: { release: 'H4sI' } });
      }
      if (fx) out.push({ apiVersion: 'v1', kind: 'Secret', type: 'Opaque', metadata: { name: 'flux-system', namespace: 'flux-system', creationTimestamp: iso(fx.bootstrappedAt) }, data: fx.tokenAuth ? { username: Buffer.from('git').toString('base64'), password: 'KioqKg==' } : { identity: 'LS0t', 'identity.pub': 'ZWNkc2E=', known_hosts: 'Z2l0aHViLmNvbQ==' } });
      break;
    case 'ServiceAccount':
      for (const ns of namespaces(st)) out.push({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace: ns, creationTimestamp: iso() } });
      break;
    case 'CustomResourceDefinition':
      if (fx) {
        for (const name of FLUX_CRDS) {
          out.push({ apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name, creationTimestamp: iso(fx.bootstrappedAt) }, status: { conditions: [{ type: 'Established', status: 'True', reason: 'InitialNamesAccepted' }, { type: 'NamesAccepted', status: 'True' }] } });
        }
      }
      break;
    case 'Kustomization':
      if (fx) {
        for (const k of fx.kustomizations) {
          const s = kustomizationStatus(st, lab, k, now);
          out.push({
            apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
            kind: 'Kustomization',
            metadata: { name: k.name, namespace: k.namespace, labels: k.labels ?? {}, creationTimestamp: iso(k.appliedAt), generation: 1 },
            spec: { ...(k.spec ?? {}), ...(k.suspended ? { suspend: true } : {}), ...(k.dependsOn?.length ? { dependsOn: k.dependsOn.map((d) => (d.includes('/') ? { name: d.split('/')[1], namespace: d.split('/')[0] } : { name: d })) } : {}) },
            status: s
              ? {
                  observedGeneration: s.ready === 'True' ? 1 : -1,
                  ...(s.ready === 'True' ? { lastAppliedRevision: `${fx.branch}@sha1:${fx.revision}` } : {}),
                  conditions: [{ type: 'Ready', status: s.ready, reason: s.reason, message: s.message, lastTransitionTime: iso(s.at ?? now), observedGeneration: 1 }],
                }
              : {},
          });
        }
      }
      break;
    case 'GitRepository':
      if (fx) {
        out.push({
          apiVersion: 'source.toolkit.fluxcd.io/v1',
          kind: 'GitRepository',
          metadata: { name: 'flux-system', namespace: 'flux-system', creationTimestamp: iso(fx.bootstrappedAt), generation: 1 },
          spec: { interval: '1m0s', ref: { branch: fx.branch }, secretRef: { name: 'flux-system' }, url: fx.url },
          status: up
            ? { artifact: { revision: `${fx.branch}@sha1:${fx.revision}` }, conditions: [{ type: 'Ready', status: 'True', reason: 'Succeeded', message: `stored artifact for revision '${fx.branch}@sha1:${fx.revision}'`, lastTransitionTime: iso(fx.controllersReadyAt) }] }
            : {},
        });
      }
      break;
    default:
      break;
  }
  for (const [k, o] of Object.entries(st.k8s.objects)) {
    if (!k.startsWith(`${r.plural}.${r.group}/`)) continue;
    if (r.kind === 'Kustomization' || r.kind === 'GitRepository') {
      if (out.some((x) => x.metadata.name === o.metadata.name && x.metadata.namespace === o.metadata.namespace)) continue;
    }
    out.push(o);
  }
  return out;
}

export function conditionOf(obj, type) {
  return obj?.status?.conditions?.find((c) => c.type.toLowerCase() === type.toLowerCase());
}

export function matchesSelector(obj, selector) {
  if (!selector) return true;
  const labels = obj.metadata?.labels ?? {};
  return selector.split(',').every((term) => {
    const t = term.trim();
    let m;
    if ((m = /^([^!=]+)!=(.*)$/.exec(t))) return labels[m[1]] !== m[2];
    if ((m = /^([^=]+)==?(.*)$/.exec(t))) return labels[m[1]] === m[2];
    if (t.startsWith('!')) return !(t.slice(1) in labels);
    return t in labels;
  });
}

export { reachability, iso };
