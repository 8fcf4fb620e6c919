import ipaddr from 'ipaddr.js';
import { overlapIssues, type ConfigIssue } from './rules.ts';
import type { ParsedConfig } from './schema.ts';

// Rules of the Talos machine options (schema.ts, "Talos machine options"): install disk selector, dual-stack,
// encryption, bonds and VLANs, kernel arguments. Same shape as rules.ts: the path to fix and what to do.

type Cidr6 = [ipaddr.IPv6, number];

/** humanize.ParseBytes units (Talos parses install disk sizes with go-humanize): SI without "i", IEC with it. */
const UNIT: Record<string, number> = { '': 1, b: 1, k: 1e3, m: 1e6, g: 1e9, t: 1e12, p: 1e15, e: 1e18 };

/** ">= 100GB" → { op: '>=', bytes: 1e11 }; the grammar the schema's regex admits. */
export function parseDiskSize(text: string): { op: string; bytes: number } {
  const m = /^(>=|<=|>|<|==)?\s*(\d+(?:\.\d+)?)\s*([kmgtpe]?)(i?)b?$/i.exec(text.trim());
  if (!m) throw new Error(`not a size: ${text}`);
  const [, op = '', num, unit, iec] = m;
  const u = unit!.toLowerCase();
  const factor = iec ? 1024 ** (['', 'k', 'm', 'g', 't', 'p', 'e'].indexOf(u)) : UNIT[u]!;
  return { op: op === '==' ? '' : op, bytes: Number(num) * factor };
}

export function sizeMatches(selector: string, bytes: number): boolean {
  const { op, bytes: want } = parseDiskSize(selector);
  switch (op) {
    case '>=': return bytes >= want;
    case '<=': return bytes <= want;
    case '>': return bytes > want;
    case '<': return bytes < want;
    default: return bytes === want;
  }
}

function cidr6(text: string): Cidr6 {
  return ipaddr.IPv6.parseCIDR(text) as Cidr6;
}

/** The network address of an IPv6 CIDR, in its short form ("fd00:10::/64"). */
export function networkOf6(text: string): string {
  const [addr, len] = cidr6(text);
  const bytes = addr.toByteArray();
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, len - i * 8));
    bytes[i]! &= (0xff << (8 - keep)) & 0xff;
  }
  return `${ipaddr.fromByteArray(bytes).toString()}/${len}`;
}

function same6(a: string, b: string): boolean {
  const [x, xl] = cidr6(a);
  const [y, yl] = cidr6(b);
  return xl === yl && x.toNormalizedString() === y.toNormalizedString();
}

export function checkMachineRules(c: ParsedConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const add = (path: (string | number)[], message: string) => issues.push({ path, message });

  // Install disk: a path or a selector, and a selector that can match the VM's disk.
  c.nodes.forEach((n, i) => {
    const sel = n.installDiskSelector;
    if (!sel) return;
    if (n.installDisk) add(['nodes', i, 'installDiskSelector'], `node ${n.name} sets both installDisk (${n.installDisk}) and installDiskSelector; keep one (Talos lets the selector win, so the path would be dead text)`);
    // Terraform gives each VM one SCSI disk of diskGiB GiB flagged as an SSD (terraform/modules/talos-vm).
    if (sel.type && sel.type !== 'ssd') add(['nodes', i, 'installDiskSelector', 'type'], `"${sel.type}" never matches: the VM's system disk is a SCSI disk Proxmox presents as an SSD (type "ssd"); use type: ssd or drop type`);
    if (sel.size && !sizeMatches(sel.size, n.diskGiB * 1024 ** 3)) {
      add(['nodes', i, 'installDiskSelector', 'size'], `"${sel.size}" does not match the node's ${n.diskGiB} GiB disk (${n.diskGiB * 1024 ** 3} bytes; GB = 10^9, GiB = 2^30); write "${n.diskGiB}GiB" or a bound such as ">= ${Math.floor((n.diskGiB * 1024 ** 3) / 1e9)}GB"`);
    }
  });

  // Dual-stack: the same canonical / overlap / membership / uniqueness rules as IPv4 (rules.ts).
  const v6 = c.ipv6;
  if (!v6) {
    c.nodes.forEach((n, i) => {
      if (n.ipv6) add(['nodes', i, 'ipv6'], `node ${n.name} has an IPv6 address but the config has no ipv6 section; add ipv6 (nodeCidr, gateway) or remove the address`);
    });
  } else {
    let canonical = true;
    for (const key of ['nodeCidr', 'podCidr', 'serviceCidr'] as const) {
      const net = networkOf6(v6[key]);
      if (!same6(net, v6[key])) {
        canonical = false;
        add(['ipv6', key], `${v6[key]} has host bits set; write the network address ${net}`);
      }
    }
    if (canonical) {
      issues.push(...overlapIssues('ipv6', (['nodeCidr', 'podCidr', 'serviceCidr'] as const).map((k) => [k, v6[k]])));
      const podLen = cidr6(v6.podCidr)[1];
      if (podLen < 48 || podLen > 63) {
        add(['ipv6', 'podCidr'], `${v6.podCidr}: the controller manager hands each node a /64 out of it, at most 16 bits apart; use a prefix from /48 to /63 (e.g. /56)`);
      }
      const svcLen = cidr6(v6.serviceCidr)[1];
      if (svcLen < 108) add(['ipv6', 'serviceCidr'], `${v6.serviceCidr} is too large: kube-apiserver takes at most 20 bits of Service addresses; use /108 or longer (e.g. /112)`);

      const node = cidr6(v6.nodeCidr);
      const netAddr = node[0].toNormalizedString();
      const mustBeHost = (path: (string | number)[], ip: string, what: string) => {
        const a = ipaddr.IPv6.parse(ip);
        if (!a.match(node)) add(path, `${ip} (${what}) is outside ipv6.nodeCidr ${v6.nodeCidr}; use an address inside it`);
        else if (a.toNormalizedString() === netAddr) add(path, `${ip} (${what}) is the subnet-router anycast address of ${v6.nodeCidr}; use a host address`);
      };
      mustBeHost(['ipv6', 'gateway'], v6.gateway, 'IPv6 gateway');
      const owners = new Map<string, string>([[ipaddr.IPv6.parse(v6.gateway).toNormalizedString(), 'ipv6.gateway']]);
      c.nodes.forEach((n, i) => {
        if (!n.ipv6) {
          add(['nodes', i, 'ipv6'], `node ${n.name} needs an IPv6 address inside ipv6.nodeCidr ${v6.nodeCidr} (the ipv6 section makes every node dual-stack)`);
          return;
        }
        mustBeHost(['nodes', i, 'ipv6'], n.ipv6, `node ${n.name}`);
        const key = ipaddr.IPv6.parse(n.ipv6).toNormalizedString();
        const prev = owners.get(key);
        if (prev) add(['nodes', i, 'ipv6'], `${n.ipv6} is used by both ${prev} and nodes[${i}] (${n.name}); give each its own address`);
        else owners.set(key, `nodes[${i}] (${n.name})`);
      });
    }
  }

  // Encryption: each volume once.
  const enc = c.talos.encryption;
  if (enc && new Set(enc.volumes).size !== enc.volumes.length) add(['talos', 'encryption', 'volumes'], `${enc.volumes.join(', ')} names a volume twice; list STATE and/or EPHEMERAL once each`);

  // Bond: distinct NICs, one of them the node interface the VM's first network device is.
  const bond = c.talos.bond;
  if (bond) {
    const seen = new Set<string>();
    bond.interfaces.forEach((name, i) => {
      if (seen.has(name)) add(['talos', 'bond', 'interfaces', i], `${name} is listed twice; each NIC joins the bond once`);
      seen.add(name);
    });
    if (!bond.interfaces.includes(c.network.interface)) {
      add(['talos', 'bond', 'interfaces'], `does not hold network.interface (${c.network.interface}); the bond takes over the node's NIC, so list it (e.g. [${c.network.interface}, …])`);
    }
    // Terraform gives the VM one network device per entry; with eth-style names the guest calls them eth0…eth<n-1>.
    const n = bond.interfaces.length;
    if (bond.interfaces.every((x) => /^eth\d+$/.test(x)) && bond.interfaces.some((x) => Number(x.slice(3)) >= n)) {
      add(['talos', 'bond', 'interfaces'], `${bond.interfaces.join(', ')}: the VM gets ${n} network devices, which the guest names eth0…eth${n - 1}; list those`);
    }
    if (bond.lacpRate && bond.mode !== '802.3ad') add(['talos', 'bond', 'lacpRate'], `lacpRate applies to mode 802.3ad only (mode is ${bond.mode}); remove it or switch the mode`);
    if (bond.xmitHashPolicy && !['802.3ad', 'balance-xor', 'balance-tlb', 'balance-alb'].includes(bond.mode)) {
      add(['talos', 'bond', 'xmitHashPolicy'], `xmitHashPolicy applies to modes 802.3ad, balance-xor, balance-tlb and balance-alb (mode is ${bond.mode}); remove it or switch the mode`);
    }
  }

  // Kernel arguments: one value per name, none that the image or the interface naming already decide.
  const args = c.imageFactory.extraKernelArgs;
  const names = new Map<string, number>();
  args.forEach((arg, i) => {
    const [name, value] = arg.split(/=(.*)/s) as [string, string | undefined];
    const path = ['imageFactory', 'extraKernelArgs', i];
    const prev = names.get(name);
    if (prev !== undefined) add(path, `${name} is also set by extraKernelArgs[${prev}]; give each kernel argument once`);
    else names.set(name, i);
    if (name === 'talos.platform' || name === 'talos.config') add(path, `${name} is set by the metal image Terraform downloads; remove it`);
    if (name === 'net.ifnames' && /^eth\d+$/.test(c.network.interface) && value !== '0') {
      add(path, `net.ifnames=${value ?? ''} contradicts network.interface ${c.network.interface}: eth-style names need net.ifnames=0, which Terraform adds; remove it or rename network.interface`);
    }
  });
  return issues;
}
