import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { ClusterConfig } from './load.ts';
import { cidrWithin, underDomain } from './rules.ts';

// Rules across configs for powerdns.external: a cluster that publishes its names and answers DNS-01 challenges through
// another cluster's PowerDNS. When its apiUrl names the DNS address of another configured cluster (that cluster's
// network.loadBalancerIps.dns or powerdns.nameserver.ip), the two must agree: the server's powerdns.apiSourceRanges
// admit this cluster's nodes (else its LoadBalancer drops external-dns and the webhook), both name the same zone,
// the names never collide (this cluster's domain holds none of the server's records, public names or another client's
// domain), and the external-dns owner ids (cluster.name) differ. Each issue names both files and the field to fix.

export interface ConfigFile {
  /** As shown to the user (repo-relative). */
  file: string;
  config: ClusterConfig;
}

export interface CrossConfigIssue {
  /** The file to change. */
  file: string;
  /** The field to change, dotted. */
  field: string;
  message: string;
}

/** Which configured cluster runs the PowerDNS that `client`'s powerdns.external.apiUrl names, if any. */
export function powerDnsServerOf(client: ConfigFile, configs: ConfigFile[]): ConfigFile | undefined {
  const ext = client.config.powerdns?.external;
  if (!ext) return undefined;
  const host = new URL(ext.apiUrl).hostname;
  return configs.find((s) => {
    const p = s.config.powerdns;
    if (s === client || !p || p.external) return false;
    return s.config.network.loadBalancerIps?.dns === host || p.nameserver.ip === host;
  });
}

export function checkExternalDns(configs: ConfigFile[]): CrossConfigIssue[] {
  const issues: CrossConfigIssue[] = [];
  const clients = new Map<ConfigFile, ConfigFile[]>();
  for (const c of configs) {
    const server = powerDnsServerOf(c, configs);
    if (server) clients.set(server, [...(clients.get(server) ?? []), c]);
  }
  for (const [server, users] of clients) {
    const sp = server.config.powerdns!;
    const sname = `${server.file} (cluster ${server.config.cluster.name})`;
    users.forEach((client, i) => {
      const cp = client.config.powerdns!;
      const ext = cp.external!;
      const cname = `${client.file} (cluster ${client.config.cluster.name})`;
      const nodes = client.config.network.nodeCidr;
      if (!sp.apiSourceRanges.some((r) => cidrWithin(nodes, r))) {
        issues.push({
          file: server.file,
          field: 'powerdns.apiSourceRanges',
          message: `[${sp.apiSourceRanges.join(', ')}] does not admit the node network ${nodes} of ${cname}, whose powerdns.external.apiUrl ${ext.apiUrl} is this server's API: add ${nodes} (external-dns and the DNS-01 webhook there reach the API from those addresses)`,
        });
      }
      if (cp.zone !== sp.zone) {
        issues.push({
          file: client.file,
          field: 'powerdns.zone',
          message: `${cp.zone} is not the zone of the PowerDNS its powerdns.external.apiUrl names: ${sname} serves ${sp.zone}; write powerdns.zone: ${sp.zone}`,
        });
      }
      if (client.config.cluster.name === server.config.cluster.name) {
        issues.push({
          file: client.file,
          field: 'cluster.name',
          message: `${client.config.cluster.name} is also the name of ${sname}: both external-dns would own the zone's records as txtOwnerId ${client.config.cluster.name} and delete each other's; rename one cluster`,
        });
      }
      const zone = sp.zone;
      sp.records.forEach((r, j) => {
        if (underDomain(r.name, ext.domain)) {
          issues.push({
            file: server.file,
            field: `powerdns.records[${j}]`,
            message: `${r.name} lies in ${ext.domain}, the domain of ${cname} (powerdns.external.domain), whose external-dns publishes those names: rename or remove the record here, or give that cluster another domain`,
          });
        }
      });
      for (const name of server.config.vps?.publicNames ?? []) {
        if (name === '*' || name === '@') continue;
        if (underDomain(`${name}.${zone}`, ext.domain)) {
          issues.push({ file: server.file, field: 'vps.publicNames', message: `${name}.${zone} lies in ${ext.domain}, the domain of ${cname}: its Gateway, not this cluster's, serves those names; remove it here` });
        }
      }
      for (const other of users.slice(i + 1)) {
        const od = other.config.powerdns!.external!.domain;
        if (underDomain(od, ext.domain) || underDomain(ext.domain, od)) {
          issues.push({
            file: other.file,
            field: 'powerdns.external.domain',
            message: `${od} overlaps ${ext.domain}, the domain of ${cname} on the same PowerDNS (${sname}): both clusters would publish and certify the same names; give each its own domain`,
          });
        }
        if (other.config.cluster.name === client.config.cluster.name) {
          issues.push({ file: other.file, field: 'cluster.name', message: `${other.config.cluster.name} is also the name of ${cname}, which uses the same PowerDNS: external-dns owner ids (txtOwnerId) must differ; rename one cluster` });
        }
      }
    });
  }
  return issues;
}

/**
 * The config files of one repository, in the two groups whose members belong together: the shipped examples
 * (cluster.example.yaml, clusters/*.example.yaml) and the user's own (cluster.yaml in ownDir, clusters/*.yaml).
 * Absolute paths of the files that exist.
 */
export function configGroups(root: string, ownDir = root): { examples: string[]; own: string[] } {
  const dir = join(root, 'clusters');
  const inClusters = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort() : [];
  const present = (files: string[]) => files.map((f) => resolve(f)).filter((f) => existsSync(f));
  return {
    examples: present([join(root, 'cluster.example.yaml'), ...inClusters.filter((f) => f.endsWith('.example.yaml')).map((f) => join(dir, f))]),
    own: present([join(ownDir, 'cluster.yaml'), ...inClusters.filter((f) => !f.endsWith('.example.yaml')).map((f) => join(dir, f))]),
  };
}
