// Talos machine configuration as the talosctl fake generates and reads it (v1alpha1 documents, 4-space YAML like
// talosctl writes), plus the strategic-merge patching gen config / apply-config --config-patch do.
import fs from 'node:fs';
import { yaml, fail } from './core.mjs';
import { fingerprint, issue, newCa, randomToken } from './pki.mjs';
import { randomBytes } from 'node:crypto';

export function newSecretsBundle() {
  const r = (n) => randomBytes(n).toString('base64');
  return {
    cluster: { id: r(32), secret: r(32) },
    secrets: { bootstraptoken: randomToken(6, 16), secretboxencryptionsecret: r(32) },
    trustdinfo: { token: randomToken(6, 16) },
    certs: {
      etcd: newCa('etcd'),
      k8s: newCa('kubernetes'),
      k8saggregator: newCa('front-proxy'),
      k8sserviceaccount: { key: newCa('service-accounts').key },
      os: newCa('talos', 'ed25519'),
    },
  };
}

export async function toYaml(value) {
  const { stringify } = await yaml();
  return stringify(value, { indent: 4, lineWidth: 0 });
}

export async function readYamlDocs(text, file) {
  const { parseAllDocuments } = await yaml();
  const docs = parseAllDocuments(text);
  for (const d of docs) {
    if (d.errors?.length) fail(`failed to parse ${file}: ${d.errors[0].message.split('\n')[0]}`);
  }
  return docs.map((d) => d.toJS()).filter((d) => d != null);
}

const isObj = (v) => v && typeof v === 'object' && !Array.isArray(v);

/**
 * Talos-style strategic merge (talos v1.11.6 pkg/machinery/config/merge): maps merge deeply; network interfaces merge
 * by interface name, vlans by id; podSubnets/serviceSubnets are replaced (merge:"replace"); other lists append.
 */
export function merge(base, patch, key = '') {
  if (!isObj(base) || !isObj(patch)) {
    if (Array.isArray(base) && Array.isArray(patch)) {
      if (key === 'podSubnets' || key === 'serviceSubnets') return patch;
      if (key === 'interfaces' || key === 'vlans') {
        const out = base.map((x) => ({ ...x }));
        for (const p of patch) {
          const id = p.interface ?? p.vlanId ?? JSON.stringify(p.deviceSelector ?? null);
          const i = out.findIndex((x) => (x.interface ?? x.vlanId ?? JSON.stringify(x.deviceSelector ?? null)) === id);
          if (i >= 0) out[i] = merge(out[i], p);
          else out.push(p);
        }
        return out;
      }
      return [...base, ...patch];
    }
    return patch === undefined ? base : patch;
  }
  const out = { ...base };
  for (const [k, v] of Object.entries(patch)) {
    if (v && typeof v === 'object' && v.$patch === 'delete') delete out[k];
    else out[k] = k in out ? merge(out[k], v, k) : v;
  }
  return out;
}

/** Loads `@file` (or inline YAML/JSON) patches: [{ machineConfig patch, extra documents }]. */
export async function loadPatches(specs, flagName = 'config-patch') {
  const out = [];
  for (const spec of specs ?? []) {
    let text = spec;
    if (spec.startsWith('@')) {
      const file = spec.slice(1);
      try {
        text = fs.readFileSync(file, 'utf8');
      } catch {
        fail(`error parsing config JSON patch: open ${file}: no such file or directory`);
      }
    }
    if (/^\s*\[/.test(text)) fail(`lab: JSON6902 patches (--${flagName} [...]) are not simulated; use strategic-merge YAML patches`);
    const docs = await readYamlDocs(text, spec);
    const main = docs.find((d) => !d.kind || d.version === 'v1alpha1') ?? {};
    const extra = docs.filter((d) => d !== main);
    out.push({ main, extra });
  }
  return out;
}

function images(k8s) {
  const v = `v${k8s.replace(/^v/, '')}`;
  return {
    apiServer: `registry.k8s.io/kube-apiserver:${v}`,
    controllerManager: `registry.k8s.io/kube-controller-manager:${v}`,
    scheduler: `registry.k8s.io/kube-scheduler:${v}`,
    proxy: `registry.k8s.io/kube-proxy:${v}`,
    kubelet: `ghcr.io/siderolabs/kubelet:${v}`,
  };
}

/** The machine config `gen config` writes for one type, before patches. */
export function baseMachineConfig(type, { clusterName, endpoint, secrets, kubernetesVersion, installImage, installDisk, dnsDomain, additionalSans }) {
  const img = images(kubernetesVersion);
  const cp = type === 'controlplane';
  const machine = {
    type,
    token: secrets.trustdinfo.token,
    ca: cp ? { crt: secrets.certs.os.crt, key: secrets.certs.os.key } : { crt: secrets.certs.os.crt, key: '' },
    certSANs: [],
    kubelet: { image: img.kubelet, defaultRuntimeSeccompProfileEnabled: true, disableManifestsDirectory: true },
    network: {},
    install: { disk: installDisk, image: installImage, wipe: false },
    features: {
      rbac: true,
      stableHostname: true,
      apidCheckExtKeyUsage: true,
      diskQuotaSupport: true,
      kubePrism: { enabled: true, port: 7445 },
      hostDNS: { enabled: true, forwardKubeDNSToHost: true },
    },
    nodeLabels: cp ? { 'node.kubernetes.io/exclude-from-external-load-balancers': '' } : {},
  };
  const cluster = {
    id: secrets.cluster.id,
    secret: secrets.cluster.secret,
    controlPlane: { endpoint },
    clusterName,
    network: { dnsDomain, podSubnets: ['10.244.0.0/16'], serviceSubnets: ['10.96.0.0/12'] },
    token: secrets.secrets.bootstraptoken,
    ca: cp ? { crt: secrets.certs.k8s.crt, key: secrets.certs.k8s.key } : { crt: secrets.certs.k8s.crt, key: '' },
    discovery: { enabled: true, registries: { kubernetes: { disabled: true }, service: {} } },
  };
  if (cp) {
    Object.assign(cluster, {
      secretboxEncryptionSecret: secrets.secrets.secretboxencryptionsecret,
      aggregatorCA: secrets.certs.k8saggregator,
      serviceAccount: { key: secrets.certs.k8sserviceaccount.key },
      apiServer: { image: img.apiServer, certSANs: [new URL(endpoint).hostname, ...(additionalSans ?? [])] },
      controllerManager: { image: img.controllerManager },
      proxy: { image: img.proxy },
      scheduler: { image: img.scheduler },
      etcd: { ca: secrets.certs.etcd },
    });
  }
  return { version: 'v1alpha1', debug: false, persist: true, machine, cluster };
}

export function talosconfigFor(name, secrets) {
  const client = issue(secrets.certs.os, 'admin', 'os:admin', 'ed25519');
  return { context: name, contexts: { [name]: { endpoints: [], ca: secrets.certs.os.crt, crt: client.crt, key: client.key } } };
}

/** The admin kubeconfig `talosctl kubeconfig` hands out: a client cert for admin (system:masters) signed by the k8s CA. */
export function kubeconfigFor(cluster, server, ca) {
  const user = `admin@${cluster}`;
  const cert = issue(ca, 'admin', 'system:masters');
  return {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: cluster, cluster: { server, 'certificate-authority-data': ca.crt } }],
    users: [{ name: user, user: { 'client-certificate-data': cert.crt, 'client-key-data': cert.key } }],
    contexts: [{ context: { cluster, namespace: 'default', user }, name: user }],
    'current-context': user,
  };
}

/** What a node keeps of an applied config (the lab's view of it). */
export function configRecord(cfg, extraDocs = []) {
  const m = cfg?.machine ?? {};
  const c = cfg?.cluster ?? {};
  if (!['controlplane', 'worker', 'init'].includes(m.type)) {
    fail(`failed to parse config: unknown machine type ${JSON.stringify(m.type ?? '')}`);
  }
  const hostnameDoc = extraDocs.find((d) => d.kind === 'HostnameConfig');
  const vips = [];
  for (const i of m.network?.interfaces ?? []) {
    if (i.vip?.ip) vips.push(i.vip.ip);
    for (const v of i.vlans ?? []) if (v.vip?.ip) vips.push(v.vip.ip);
  }
  for (const d of extraDocs) if (d.kind === 'Layer2VIPConfig' && d.name) vips.push(d.name);
  const kubeletImage = m.kubelet?.image ?? '';
  return {
    type: m.type === 'init' ? 'controlplane' : m.type,
    hostname: m.network?.hostname ?? hostnameDoc?.hostname,
    clusterName: c.clusterName,
    endpoint: c.controlPlane?.endpoint,
    talosCa: m.ca?.crt ? fingerprint(m.ca.crt) : undefined,
    k8sCa: c.ca?.crt ? fingerprint(c.ca.crt) : undefined,
    vip: vips[0],
    cni: c.network?.cni?.name ?? 'flannel',
    proxyDisabled: c.proxy?.disabled === true,
    installImage: m.install?.image,
    installDisk: m.install?.disk,
    kubernetesVersion: (/:v?([\d.]+)/.exec(kubeletImage)?.[1]) ?? undefined,
    nodeLabels: m.nodeLabels ?? {},
    certSANs: c.apiServer?.certSANs ?? [],
    addresses: (m.network?.interfaces ?? []).flatMap((i) => i.addresses ?? []),
    k8sCaCrt: c.ca?.crt,
    // Control-plane configs carry the CA keys (kubeconfig is signed with it); worker configs do not.
    k8sCaKey: c.ca?.key || undefined,
    talosCaCrt: m.ca?.crt,
  };
}

/** "factory.talos.dev/metal-installer/<id>:v1.11.6" → "v1.11.6". */
export function imageTag(image) {
  const m = /:(v?[\w.+-]+)$/.exec(image ?? '');
  return m ? m[1] : undefined;
}
