import { existsSync, readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { cidrsOverlap, inCidr, type ConfigIssue } from './rules.ts';
import type { ParsedConfig } from './schema.ts';

// Rules of the Cilium ClusterMesh section (schema.ts, clusterMesh). Within one config: the clustermesh-apiserver
// address is a free address of the LoadBalancer range. Across configs (each peer's file is read): distinct cluster
// names and ids, pod and node networks that do not overlap (pods reach each other routed, by address), the same Cilium
// minor, and a peer that lists this config back — both configs must agree.

export function checkMeshRules(c: ParsedConfig): ConfigIssue[] {
  const mesh = c.clusterMesh;
  if (!mesh) return [];
  const issues: ConfigIssue[] = [];
  const ip = mesh.apiServerIp;
  const range = c.network.loadBalancerCidr ?? c.network.nodeCidr;
  const what = c.network.loadBalancerCidr ? 'network.loadBalancerCidr' : 'network.nodeCidr';
  if (!inCidr(ip, range)) issues.push({ path: ['clusterMesh', 'apiServerIp'], message: `${ip} is outside ${what} ${range}; the clustermesh-apiserver LoadBalancer address must come from it` });
  const taken: [string, string][] = [[c.network.gateway, 'network.gateway'], [c.network.vip, 'network.vip'], ...c.nodes.map((n, i): [string, string] => [n.ip, `nodes[${i}] (${n.name})`])];
  if (c.powerdns?.nameserver.ip) taken.push([c.powerdns.nameserver.ip, 'powerdns.nameserver.ip']);
  if (c.network.loadBalancerIps) {
    taken.push([c.network.loadBalancerIps.ingress, 'network.loadBalancerIps.ingress']);
    if (c.network.loadBalancerIps.dns) taken.push([c.network.loadBalancerIps.dns, 'network.loadBalancerIps.dns']);
    if (c.network.loadBalancerIps.monitoring) taken.push([c.network.loadBalancerIps.monitoring, 'network.loadBalancerIps.monitoring']);
  }
  for (const [addr, owner] of taken) {
    if (addr === ip) issues.push({ path: ['clusterMesh', 'apiServerIp'], message: `${ip} is also ${owner}; give the clustermesh-apiserver its own address` });
  }
  const seen = new Map<string, number>();
  mesh.peers.forEach((p, i) => {
    const prev = seen.get(p);
    if (prev !== undefined) issues.push({ path: ['clusterMesh', 'peers', i], message: `${p} is also clusterMesh.peers[${prev}]; list each peer once` });
    else seen.set(p, i);
  });
  return issues;
}

/** A peer as this cluster's Cilium needs it: its name and clustermesh-apiserver address. */
export interface MeshRemote {
  name: string;
  apiServerIp: string;
}

/**
 * Reads each peer's config (paths relative to `file`) with `parse` (which checks that config on its own) and checks
 * that the two agree. Returns the issues, and the remotes when there are none.
 */
/** What the checks read of a peer's config. */
type PeerView = Pick<ParsedConfig, 'cluster' | 'network' | 'ipv6' | 'versions' | 'clusterMesh'>;

export function checkMeshPeers(c: ParsedConfig, file: string, parse: (text: string, shown: string) => PeerView): { issues: ConfigIssue[]; remotes: MeshRemote[] } {
  const mesh = c.clusterMesh;
  const issues: ConfigIssue[] = [];
  const remotes: MeshRemote[] = [];
  if (!mesh) return { issues, remotes };
  const self = resolve(file);
  const ids = new Map<number, string>([[c.cluster.id, 'this cluster']]);
  const names = new Map<string, string>([[c.cluster.name, 'this cluster']]);
  mesh.peers.forEach((p, i) => {
    const path = ['clusterMesh', 'peers', i];
    const peerFile = resolve(dirname(self), p);
    if (peerFile === self) return void issues.push({ path, message: `${p} is this config itself; list the other clusters' configs` });
    if (!existsSync(peerFile)) return void issues.push({ path, message: `${p} not found (resolved to ${peerFile}); paths are relative to this config's directory` });
    let peer: PeerView;
    try {
      peer = parse(readFileSync(peerFile, 'utf8'), p);
    } catch (err) {
      const first = (err as { problems?: string[] }).problems?.[0] ?? (err as Error).message;
      return void issues.push({ path, message: `${p} is not a valid cluster config (${first}); fix it first` });
    }
    const back = relative(dirname(peerFile), self);
    if (!peer.clusterMesh) return void issues.push({ path, message: `${p} (cluster ${peer.cluster.name}) has no clusterMesh section; add one with peers: [${back}] — both sides must agree` });
    const theirs = peer.clusterMesh.peers.map((q) => resolve(dirname(peerFile), q));
    const listsUs = theirs.includes(self);
    if (!listsUs) issues.push({ path, message: `${p} (cluster ${peer.cluster.name}) does not list this config in its clusterMesh.peers; add ${back} there — both sides must agree` });
    else {
      // One mesh, one member list: every cluster lists all the others (they share one CA, named after the members).
      const ours = new Set([self, ...mesh.peers.map((q) => resolve(dirname(self), q))]);
      const extra = [...new Set([peerFile, ...theirs])].filter((f) => !ours.has(f));
      if (extra.length) issues.push({ path: ['clusterMesh', 'peers'], message: `${p} (cluster ${peer.cluster.name}) also meshes with ${extra.map((f) => relative(dirname(self), f)).join(', ')}; every cluster of a mesh lists all the others — add ${extra.length === 1 ? 'it' : 'them'} here` });
    }
    const nameOwner = names.get(peer.cluster.name);
    if (nameOwner) issues.push({ path: ['cluster', 'name'], message: `cluster name ${peer.cluster.name} is used by both ${nameOwner} and ${p}; mesh peers need distinct names` });
    else names.set(peer.cluster.name, p);
    const idOwner = ids.get(peer.cluster.id);
    if (idOwner) issues.push({ path: ['cluster', 'id'], message: `cluster id ${peer.cluster.id} is used by both ${idOwner} and ${p} (${peer.cluster.name}); Cilium tells mesh clusters apart by id` });
    else ids.set(peer.cluster.id, `${p} (${peer.cluster.name})`);
    const pods: [string, string, (string | number)[]][] = [[c.network.podCidr, peer.network.podCidr, ['network', 'podCidr']]];
    if (c.ipv6 && peer.ipv6) pods.push([c.ipv6.podCidr, peer.ipv6.podCidr, ['ipv6', 'podCidr']]);
    for (const [ours, theirs, at] of pods) {
      if (cidrsOverlap(ours, theirs)) issues.push({ path: at, message: `${ours} overlaps the pod network of ${p} (${peer.cluster.name}: ${theirs}); mesh peers route pod addresses, so each needs its own` });
    }
    if (cidrsOverlap(c.network.nodeCidr, peer.network.nodeCidr)) {
      issues.push({ path: ['network', 'nodeCidr'], message: `${c.network.nodeCidr} overlaps the node network of ${p} (${peer.cluster.name}: ${peer.network.nodeCidr}); the clusters' nodes must reach each other routed` });
    }
    const minor = (v: string) => v.split('.').slice(0, 2).join('.');
    if (minor(c.versions.cilium) !== minor(peer.versions.cilium)) {
      issues.push({ path: ['versions', 'cilium'], message: `Cilium ${c.versions.cilium} here, ${peer.versions.cilium} on ${p} (${peer.cluster.name}); mesh peers run the same Cilium minor` });
    }
    remotes.push({ name: peer.cluster.name, apiServerIp: peer.clusterMesh.apiServerIp });
  });
  return { issues, remotes: issues.length ? [] : remotes };
}
