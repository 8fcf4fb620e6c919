// Talos strategic merge of machine-config patches, as `talosctl gen config --config-patch` and `apply-config
// --config-patch` apply them (siderolabs/talos v1.11.6 pkg/machinery/config/merge and the Merge methods of
// pkg/machinery/config/types/v1alpha1/v1alpha1_types.go): maps merge key by key; lists append, except
//   - machine.network.interfaces merge by `interface` (or `deviceSelector`) — NetworkDeviceList.Merge,
//   - vlans merge by `vlanId` — VlanList.Merge,
//   - cluster.apiServer.admissionControl merges by `name` — AdmissionPluginConfigList.Merge,
//   - podSubnets, serviceSubnets and auditPolicy are replaced (`merge:"replace"`).
// Other documents (VolumeConfig, …) merge by kind and name. Pure.

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

const REPLACE = new Set(['podSubnets', 'serviceSubnets', 'auditPolicy']);
const KEYED: Record<string, (x: Obj) => string> = {
  interfaces: (x) => (typeof x.interface === 'string' ? `if:${x.interface}` : `sel:${JSON.stringify(x.deviceSelector ?? null)}`),
  vlans: (x) => `vlan:${String(x.vlanId)}`,
  admissionControl: (x) => `name:${String(x.name)}`,
};

export function mergePatch(base: unknown, patch: unknown, key = ''): unknown {
  if (patch === undefined) return base;
  if (Array.isArray(base) && Array.isArray(patch)) {
    if (REPLACE.has(key)) return patch;
    const id = KEYED[key];
    if (!id) return [...base, ...patch];
    const out = base.map((x) => x as unknown);
    for (const p of patch) {
      const i = isObj(p) ? out.findIndex((x) => isObj(x) && id(x) === id(p)) : -1;
      if (i >= 0) out[i] = mergePatch(out[i], p);
      else out.push(p);
    }
    return out;
  }
  if (!isObj(base) || !isObj(patch)) return patch;
  const out: Obj = { ...base };
  for (const [k, v] of Object.entries(patch)) out[k] = k in out ? mergePatch(out[k], v, k) : v;
  return out;
}

/** A multi-document machine config: the v1alpha1 document (no `kind`) and the others. */
export interface ConfigDocuments {
  v1alpha1: Obj;
  documents: Obj[];
}

export function splitDocuments(docs: unknown[]): ConfigDocuments {
  const objs = docs.filter(isObj);
  return { v1alpha1: objs.find((d) => d.kind === undefined) ?? {}, documents: objs.filter((d) => d.kind !== undefined) };
}

/** Applies patches in order: the v1alpha1 documents merge; other documents merge by kind and name or are appended. */
export function mergeConfigs(patches: ConfigDocuments[]): ConfigDocuments {
  let v1alpha1: Obj = {};
  const documents: Obj[] = [];
  const docKey = (d: Obj) => `${String(d.kind)}/${String(d.name ?? '')}`;
  for (const p of patches) {
    v1alpha1 = mergePatch(v1alpha1, p.v1alpha1) as Obj;
    for (const d of p.documents) {
      const i = documents.findIndex((x) => docKey(x) === docKey(d));
      if (i >= 0) documents[i] = mergePatch(documents[i], d) as Obj;
      else documents.push(d);
    }
  }
  return { v1alpha1, documents };
}
