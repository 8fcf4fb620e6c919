import ipaddr from 'ipaddr.js';
import type { ParsedConfig } from './schema.ts';

// Rules that relate several fields. Each returns issues with the path of the field to fix and a message that says
// what is wrong and what to do; the loader adds file and line.

export interface ConfigIssue {
  path: (string | number)[];
  message: string;
}

type Cidr = [ipaddr.IPv4, number];

function parseCidr(text: string): Cidr {
  return ipaddr.IPv4.parseCIDR(text) as Cidr;
}

export function networkOf(text: string): string {
  return `${ipaddr.IPv4.networkAddressFromCIDR(text).toString()}/${text.split('/')[1]}`;
}

function contains(cidr: Cidr, ip: string): boolean {
  return ipaddr.IPv4.parse(ip).match(cidr);
}

type AnyCidr = [ipaddr.IPv4 | ipaddr.IPv6, number];

/** Whether two CIDRs share an address; CIDRs of different families never do. */
export function cidrsOverlap(a: string, b: string): boolean {
  const x = ipaddr.parseCIDR(a) as AnyCidr;
  const y = ipaddr.parseCIDR(b) as AnyCidr;
  if (x[0].kind() !== y[0].kind()) return false;
  return x[0].match(y as never) || y[0].match(x as never);
}

export function inCidr(ip: string, cidr: string): boolean {
  return contains(parseCidr(cidr), ip);
}

/** Every address of `inner` lies in `outer` (IPv4 CIDRs). */
export function cidrWithin(inner: string, outer: string): boolean {
  const [ip, bits] = parseCidr(inner);
  const net = parseCidr(outer);
  return bits >= net[1] && ip.match(net);
}

/**
 * Networks of one section (`network`, `ipv6`) routed separately must not share an address: one issue per overlapping
 * pair, on the later field. `nets`: [field, CIDR], canonical.
 */
export function overlapIssues(section: string, nets: [string, string][]): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  nets.forEach(([an, at], i) => {
    for (const [bn, bt] of nets.slice(i + 1)) {
      if (cidrsOverlap(at, bt)) issues.push({ path: [section, bn], message: `${bt} overlaps ${section}.${an} (${at}); pick a ${bn} that shares no address with it` });
    }
  });
  return issues;
}

function z4(text: string): boolean {
  return ipaddr.IPv4.isValidFourPartDecimal(text);
}

function broadcastOf(text: string): string {
  return ipaddr.IPv4.broadcastAddressFromCIDR(text).toString();
}

export function checkRules(c: ParsedConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const add = (path: (string | number)[], message: string) => issues.push({ path, message });

  // 1. Canonical CIDRs: host bits set usually means a typo that would silently widen or shift the network.
  const hostBits = (path: (string | number)[], value: string): boolean => {
    const net = networkOf(value);
    if (net !== value) add(path, `${value} has host bits set; write the network address ${net}`);
    return net !== value;
  };
  const networks: [(string | number)[], string | undefined][] = [
    [['network', 'nodeCidr'], c.network.nodeCidr],
    [['network', 'podCidr'], c.network.podCidr],
    [['network', 'serviceCidr'], c.network.serviceCidr],
    [['network', 'loadBalancerCidr'], c.network.loadBalancerCidr],
  ];
  let canonical = true;
  for (const [path, value] of networks) if (value !== undefined && hostBits(path, value)) canonical = false;
  // Lists of networks (sources, routes): each entry canonical too; the networks above are what later rules compute on.
  const ranges: [(string | number)[], string[] | undefined][] = [
    [['powerdns', 'apiSourceRanges'], c.powerdns?.apiSourceRanges],
    [['monitoring', 'receiveFrom'], c.monitoring?.receiveFrom],
    [['headscale', 'routes'], c.headscale?.routes],
  ];
  for (const [path, list] of ranges) (list ?? []).forEach((value, i) => hostBits([...path, i], value));
  if (!canonical) return issues;

  const node = parseCidr(c.network.nodeCidr);

  // 2. No overlap between the three networks Kubernetes routes separately.
  issues.push(...overlapIssues('network', [['nodeCidr', c.network.nodeCidr], ['podCidr', c.network.podCidr], ['serviceCidr', c.network.serviceCidr]]));
  if (c.network.loadBalancerCidr) {
    const lb = parseCidr(c.network.loadBalancerCidr);
    if (!(lb[0].match(node) && lb[1] >= node[1])) {
      add(['network', 'loadBalancerCidr'], `${c.network.loadBalancerCidr} is not inside network.nodeCidr (${c.network.nodeCidr}); Cilium announces pool addresses over L2 (ARP), so they must be on the node network`);
    }
  }

  // 3. Addresses inside the node network, not its network or broadcast address.
  const netAddr = node[0].toString();
  const bcast = broadcastOf(c.network.nodeCidr);
  const mustBeHost = (path: (string | number)[], ip: string, what: string) => {
    if (!contains(node, ip)) add(path, `${ip} (${what}) is outside network.nodeCidr ${c.network.nodeCidr}; use an address inside it`);
    else if (ip === netAddr || ip === bcast) add(path, `${ip} (${what}) is the ${ip === netAddr ? 'network' : 'broadcast'} address of ${c.network.nodeCidr}; use a host address`);
  };
  mustBeHost(['network', 'gateway'], c.network.gateway, 'gateway');
  mustBeHost(['network', 'vip'], c.network.vip, 'API VIP');
  c.nodes.forEach((n, i) => mustBeHost(['nodes', i, 'ip'], n.ip, `node ${n.name}`));

  // 4. Every address has one owner.
  const owners = new Map<string, string>();
  const claim = (path: (string | number)[], ip: string, owner: string) => {
    const prev = owners.get(ip);
    if (prev) add(path, `${ip} is used by both ${prev} and ${owner}; give each its own address`);
    else owners.set(ip, owner);
  };
  claim(['network', 'gateway'], c.network.gateway, 'network.gateway');
  claim(['network', 'vip'], c.network.vip, 'network.vip');
  c.nodes.forEach((n, i) => claim(['nodes', i, 'ip'], n.ip, `nodes[${i}] (${n.name})`));
  const lbIps = c.network.loadBalancerIps;
  if (lbIps) {
    claim(['network', 'loadBalancerIps', 'ingress'], lbIps.ingress, 'network.loadBalancerIps.ingress');
    if (lbIps.dns) claim(['network', 'loadBalancerIps', 'dns'], lbIps.dns, 'network.loadBalancerIps.dns');
    if (lbIps.monitoring) claim(['network', 'loadBalancerIps', 'monitoring'], lbIps.monitoring, 'network.loadBalancerIps.monitoring');
  }
  if (c.powerdns?.nameserver.ip && c.powerdns.nameserver.ip !== lbIps?.dns && contains(node, c.powerdns.nameserver.ip)) {
    claim(['powerdns', 'nameserver', 'ip'], c.powerdns.nameserver.ip, 'powerdns.nameserver.ip');
  }

  // Cilium LB IPAM would hand out addresses that nodes, the VIP or the gateway already hold.
  if (c.network.loadBalancerCidr) {
    const lb = parseCidr(c.network.loadBalancerCidr);
    const inPool = (path: (string | number)[], ip: string, owner: string) => {
      if (contains(lb, ip)) add(path, `${ip} (${owner}) lies in network.loadBalancerCidr ${c.network.loadBalancerCidr}, where Cilium LB IPAM hands out addresses; move it out of the pool`);
    };
    inPool(['network', 'gateway'], c.network.gateway, 'network.gateway');
    inPool(['network', 'vip'], c.network.vip, 'network.vip');
    c.nodes.forEach((n, i) => inPool(['nodes', i, 'ip'], n.ip, `nodes[${i}] (${n.name})`));
  }

  // 4b. Pinned LoadBalancer addresses: inside the pool (LB IPAM only assigns pool addresses), never its first or last
  // address (the network and broadcast address of the range on the L2 segment).
  if (lbIps) {
    if (!c.network.loadBalancerCidr) {
      add(['network', 'loadBalancerIps'], 'pinned LoadBalancer addresses need a pool: set network.loadBalancerCidr (inside network.nodeCidr) around them');
    } else {
      const lb = parseCidr(c.network.loadBalancerCidr);
      for (const which of ['ingress', 'dns', 'monitoring'] as const) {
        const ip = lbIps[which];
        if (!ip) continue;
        const path = ['network', 'loadBalancerIps', which];
        if (!contains(lb, ip)) add(path, `${ip} is outside network.loadBalancerCidr ${c.network.loadBalancerCidr}; LB IPAM only assigns pool addresses, pick one inside it`);
        else if (ip === lb[0].toString() || ip === broadcastOf(c.network.loadBalancerCidr)) {
          add(path, `${ip} is the first or last address of network.loadBalancerCidr ${c.network.loadBalancerCidr}; pick an address between them`);
        }
      }
    }
  }

  // 5. Unique names and VM ids.
  const names = new Map<string, number>();
  const vmIds = new Map<number, number>();
  c.nodes.forEach((n, i) => {
    const prevName = names.get(n.name);
    if (prevName !== undefined) add(['nodes', i, 'name'], `"${n.name}" is also the name of nodes[${prevName}]; node names must be unique`);
    else names.set(n.name, i);
    const prevId = vmIds.get(n.vmId);
    if (prevId !== undefined) add(['nodes', i, 'vmId'], `VM id ${n.vmId} is also used by nodes[${prevId}] (${c.nodes[prevId]!.name}); VM ids must be unique`);
    else vmIds.set(n.vmId, i);
  });

  // 6. etcd quorum: n members tolerate floor((n-1)/2) failures, so an even count adds a failure point, not safety.
  const cps = c.nodes.filter((n) => n.role === 'controlplane').length;
  if (cps === 0) add(['nodes'], 'no node has role "controlplane"; add one (or three for high availability)');
  else if (cps % 2 === 0) {
    add(['nodes'], `${cps} control-plane nodes: etcd needs an odd count (1, 3 or 5) — ${cps} tolerates no more failures than ${cps - 1}; add or remove one control plane`);
  }

  // 7. DNS records belong to the zone, and name only addresses pinned on a Service (issue: the wildcard record named
  // whatever address the pool handed out first).
  if (c.powerdns?.external) issues.push(...externalPowerDnsIssues(c));
  else if (c.powerdns) {
    const zone = c.powerdns.zone.replace(/\.$/, '');
    const ns = c.powerdns.nameserver.ip;
    if (!ns && !lbIps?.dns) {
      add(['powerdns', 'nameserver', 'ip'], 'the in-cluster PowerDNS needs a pinned address: set network.loadBalancerIps.dns (nameserver.ip defaults to it)');
    } else if (ns && lbIps && ns !== lbIps.dns && c.network.loadBalancerCidr && contains(parseCidr(c.network.loadBalancerCidr), ns)) {
      // A nameserver outside the pool is not the in-cluster Service (a server elsewhere); inside it, it must be the pinned one.
      add(['powerdns', 'nameserver', 'ip'], `${ns} differs from network.loadBalancerIps.dns ${lbIps.dns}, the address PowerDNS's Service is pinned to; remove nameserver.ip (it defaults to that field)`);
    }
    if (c.network.loadBalancerCidr) {
      const lb = parseCidr(c.network.loadBalancerCidr);
      const pinned = new Set(lbIps ? [lbIps.ingress, lbIps.dns, ...(lbIps.monitoring && c.monitoring?.receiveFrom ? [lbIps.monitoring] : [])].filter((ip) => ip !== undefined) : []);
      c.powerdns.records.forEach((r, i) => {
        if (r.type !== 'A') return;
        const contents = Array.isArray(r.content) ? r.content : [r.content];
        contents.forEach((ip, j) => {
          if (z4(ip) && contains(lb, ip) && !pinned.has(ip)) {
            const path = ['powerdns', 'records', i, 'content', ...(Array.isArray(r.content) ? [j] : [])];
            add(path, `${ip} lies in network.loadBalancerCidr but no Service is pinned to it; name a network.loadBalancerIps address (${[...pinned].join(', ') || 'none set'})`);
          }
        });
      });
    }
    c.powerdns.records.forEach((r, i) => {
      if (r.name.endsWith('.') && !(r.name === `${zone}.` || r.name.endsWith(`.${zone}.`))) {
        add(['powerdns', 'records', i, 'name'], `${r.name} is outside zone ${zone}; use a name relative to the zone or ending in .${zone}.`);
      }
    });
    if (c.powerdns.delegation) {
      const parent = c.powerdns.delegation.parentZone.replace(/\.$/, '');
      if (!zone.endsWith(`.${parent}`)) {
        add(['powerdns', 'delegation', 'parentZone'], `${parent} is not a parent of powerdns.zone ${zone}; delegation goes from the parent zone to its child`);
      }
    }
  }
  // 8. The VPS entry needs the zone it serves and the ingress it forwards to.
  if (c.vps) {
    if (!c.powerdns) add(['vps'], 'the vps section serves powerdns.zone as a secondary: add the powerdns section (or remove vps)');
    else if (c.powerdns.external) add(['vps'], 'the vps section is the secondary of the zone, so it belongs to the config of the cluster that runs PowerDNS; remove it here (powerdns.external)');
    if (!c.network.loadBalancerIps?.ingress) {
      add(['network', 'loadBalancerIps', 'ingress'], 'vps forwards HTTPS to the ingress: set network.loadBalancerIps.ingress to the ingress LoadBalancer address');
    }
    // A public name is answered with vps.publicIp; an A record of the config for the same name would win and show the
    // internet an address it cannot reach.
    if (c.powerdns) {
      const zone = c.powerdns.zone.replace(/\.$/, '');
      const full = (n: string) => (n === '@' ? `${zone}.` : n.endsWith('.') ? n : `${n}.${zone}.`);
      const publicNames = new Set(c.vps.publicNames.map(full));
      c.powerdns.records.forEach((r, i) => {
        if (r.type === 'A' && publicNames.has(full(r.name))) {
          add(['powerdns', 'records', i, 'name'], `${r.name} is in vps.publicNames, which points it at vps.publicIp ${c.vps!.publicIp}; remove this A record (the internet cannot reach ${[r.content].flat().join(', ')})`);
        }
      });
    }
  }
  // Database backups are on with the backups section (infra role) unless turned off.
  if (c.backups?.databases.enabled && c.cluster.role === 'infra' && z4(new URL(c.backups.s3.endpoint).hostname)) {
    add(['backups', 's3', 'endpoint'], 'name the S3 endpoint by host name, not IP address: the database namespaces\' network policies allow it by name (toFQDNs); or set backups.databases.enabled: false');
  }
  if (c.headscale && !c.headscale.user && !c.headscale.tag && !c.headscale.nodes) {
    add(['headscale'], 'say which Headscale nodes are the cluster\'s: set headscale.nodes, headscale.tag or headscale.user');
  }
  const alerts = c.monitoring?.alerts;
  if (alerts?.receiver === 'matrix' && !alerts.matrix) {
    add(['monitoring', 'alerts', 'matrix'], 'receiver "matrix" needs the room: set alerts.matrix { homeserver, userId, room } (the access token goes in .env ALERT_MATRIX_ACCESS_TOKEN)');
  }
  if (alerts?.matrix && alerts.receiver !== 'matrix') {
    add(['monitoring', 'alerts', 'matrix'], `is only read with receiver "matrix" (receiver is "${alerts.receiver}"): set receiver: matrix or remove alerts.matrix`);
  }
  if (alerts?.matrix && !['', '443'].includes(new URL(alerts.matrix.homeserver).port)) {
    add(['monitoring', 'alerts', 'matrix', 'homeserver'], 'must be on port 443: the monitoring namespace\'s network policy lets the receiver reach HTTPS on 443 only');
  }
  if (c.monitoring && !c.monitoring.shipTo && !c.proxmoxCsi) {
    add(['monitoring'], 'VictoriaMetrics and VictoriaLogs keep their data on Proxmox CSI volumes: add the proxmoxCsi section or remove monitoring');
  }
  // 9. A cluster ships its metrics and logs to another one, or stores them (and may receive others'), not both.
  const ship = c.monitoring?.shipTo;
  if (ship && c.monitoring?.receiveFrom) {
    add(['monitoring', 'receiveFrom'], `this cluster ships to ${ship.cluster} (monitoring.shipTo), so it stores nothing others could send: remove receiveFrom, or shipTo`);
  }
  if (ship && ship.cluster === c.cluster.name) add(['monitoring', 'shipTo', 'cluster'], `${ship.cluster} is this cluster; name the cluster that stores the metrics and logs (remove shipTo to store them here)`);
  if (ship && contains(node, ship.address)) {
    add(['monitoring', 'shipTo', 'address'], `${ship.address} is inside this cluster's network.nodeCidr ${c.network.nodeCidr}; give ${ship.cluster}'s network.loadBalancerIps.monitoring`);
  }
  if (c.monitoring?.receiveFrom && !lbIps?.monitoring) {
    add(['monitoring', 'receiveFrom'], 'the shipping clusters need a pinned address to send to: set network.loadBalancerIps.monitoring (inside network.loadBalancerCidr)');
  }
  if (c.monitoring?.receiveFrom) {
    c.monitoring.receiveFrom.forEach((range, i) => {
      if (cidrsOverlap(range, c.network.nodeCidr)) add(['monitoring', 'receiveFrom', i], `${range} overlaps this cluster's own network.nodeCidr ${c.network.nodeCidr}; list the node networks of the clusters that ship here (their monitoring.shipTo)`);
    });
  }
  return issues;
}

/** The DNS name `name` equals `domain` or lies under it (both without the trailing dot). */
export function underDomain(name: string, domain: string): boolean {
  const n = name.replace(/\.$/, '');
  const d = domain.replace(/\.$/, '');
  return n === d || n.endsWith(`.${d}`);
}

/** This cluster's host-name domain with powerdns.external: external.domain, default <cluster.name>.<zone>. */
export function externalDomain(c: Pick<ParsedConfig, 'cluster' | 'powerdns'>): string | undefined {
  const p = c.powerdns;
  if (!p?.external) return undefined;
  return (p.external.domain ?? `${c.cluster.name}.${p.zone}`).replace(/\.$/, '');
}

/**
 * powerdns.external: the server, its zone and its public entry belong to the config of the cluster that runs it; here
 * only the API address (by IPv4 address: the network policies allow it by CIDR), the zone, and this cluster's own
 * domain inside it (a name of its own, so the two clusters never publish the same host).
 */
function externalPowerDnsIssues(c: ParsedConfig): ConfigIssue[] {
  const p = c.powerdns!;
  const ext = p.external!;
  const issues: ConfigIssue[] = [];
  const add = (path: (string | number)[], message: string) => issues.push({ path: ['powerdns', ...path], message });
  const owner = 'set it in the config of the cluster that runs PowerDNS';
  if (p.apiUrl) add(['apiUrl'], 'powerdns.external.apiUrl is the API address when PowerDNS runs elsewhere; remove powerdns.apiUrl');
  if (p.apiSourceRanges) add(['apiSourceRanges'], `who may reach the API is decided where PowerDNS runs; remove it here and ${owner} (include this cluster's network.nodeCidr ${c.network.nodeCidr})`);
  if (p.delegation) add(['delegation'], `the delegation of the zone is managed by the cluster that runs PowerDNS; remove it here and ${owner}`);
  if (p.records.length) add(['records'], `static records of the zone belong to the cluster that runs PowerDNS (this cluster's names are published by external-dns); remove them here and ${owner}`);
  if (c.network.loadBalancerIps?.dns) add([], 'no PowerDNS runs here (powerdns.external): remove network.loadBalancerIps.dns');
  const url = new URL(ext.apiUrl);
  const host = url.hostname;
  // The API Service of kubernetes/platform/powerdns listens on 8081, the port the network policies here allow.
  if (url.port !== '8081') add(['external', 'apiUrl'], `${ext.apiUrl} does not name port 8081, where the PowerDNS API Service listens (and the only port the network policies of external-dns and cert-manager allow); write http://${host}:8081`);
  if (!z4(host)) add(['external', 'apiUrl'], `${host} is a host name; name the server by its IPv4 address (network.loadBalancerIps.dns of the cluster that runs it): the network policies of external-dns and cert-manager allow the API by address`);
  if (!c.network.loadBalancerIps?.ingress) {
    issues.push({ path: ['network', 'loadBalancerIps', 'ingress'], message: "the Gateway of this cluster's domain needs a pinned address: set network.loadBalancerIps.ingress inside network.loadBalancerCidr" });
  }
  const zone = p.zone.replace(/\.$/, '');
  const domain = externalDomain(c)!;
  if (domain === zone) add(['external', 'domain'], `${domain} is the zone itself, where the cluster that runs PowerDNS publishes its names; use a name under it such as ${c.cluster.name}.${zone}`);
  else if (!underDomain(domain, zone)) add(['external', 'domain'], `${domain} is outside powerdns.zone ${zone}; use a name under it such as ${c.cluster.name}.${zone}`);
  return issues;
}
