import type { ClusterConfig } from '../config/load.ts';
import type { NodeConfig } from '../config/schema.ts';

// The Talos machine options of the config (install disk, dual-stack, encryption, bond, VLAN, kernel arguments) as
// template variables (JSON values the talos/patches templates place) and extra config documents. Pure.

/**
 * Header lines after the generated note: the Talos version the patch is written for (validate checks it against that
 * minor's schema) and, in a node patch, the node's role (validate merges it onto the common and role patches).
 */
export function talosHeader(c: ClusterConfig, node?: NodeConfig): string {
  return `# Talos: ${c.versions.talos}${node ? `\n# Node: ${node.name} (${node.role})` : ''}`;
}

/** Reads talosHeader back: the Talos version and, for a node patch, the role. */
export function parseTalosHeader(text: string): { talos?: string; role?: 'controlplane' | 'worker' } {
  const talos = /^# Talos: (v\d+\.\d+\.\d+)$/m.exec(text)?.[1];
  const role = /^# Node: \S+ \((controlplane|worker)\)$/m.exec(text)?.[1] as 'controlplane' | 'worker' | undefined;
  return { ...(talos ? { talos } : {}), ...(role ? { role } : {}) };
}

/** The link the node addresses sit on: the bond when there is one, else the NIC. */
export function nodeLink(c: ClusterConfig): string {
  return c.talos.bond?.name ?? c.network.interface;
}

/**
 * The kernel arguments of the installed system, in the order Terraform writes them into the Image Factory schematic
 * (terraform/01-infrastructure main.tf local.kernel_args): net.ifnames=0 for eth-style names, then the config's.
 */
export function kernelArgs(c: ClusterConfig): string[] {
  const args = [...(/^eth\d+$/.test(c.network.interface) ? ['net.ifnames=0'] : []), ...c.imageFactory.extraKernelArgs];
  return [...new Set(args)];
}

function prefixOf(cidr: string): string {
  return cidr.split('/')[1]!;
}

/** On the link itself, or on its VLAN: where addresses, routes and the VIP go. */
function onLink(c: ClusterConfig, settings: Record<string, unknown>): Record<string, unknown> {
  const link: Record<string, unknown> = { interface: nodeLink(c) };
  if (c.talos.vlan === undefined) return { ...link, ...settings };
  return { ...link, vlans: [{ vlanId: c.talos.vlan, ...settings }] };
}

function nodeInterface(c: ClusterConfig, node: NodeConfig): Record<string, unknown> {
  const v6 = c.ipv6;
  const addresses = [`${node.ip}/${prefixOf(c.network.nodeCidr)}`, ...(v6 && node.ipv6 ? [`${node.ipv6}/${prefixOf(v6.nodeCidr)}`] : [])];
  const routes = [
    { network: '0.0.0.0/0', gateway: c.network.gateway },
    ...(v6 ? [{ network: '::/0', gateway: v6.gateway }] : []),
  ];
  const vlan = c.talos.vlan !== undefined;
  const iface: Record<string, unknown> = { interface: nodeLink(c), dhcp: false, mtu: c.network.mtu };
  const b = c.talos.bond;
  if (b) {
    iface.bond = {
      interfaces: b.interfaces,
      mode: b.mode,
      miimon: b.miimon,
      ...(b.lacpRate ? { lacpRate: b.lacpRate } : {}),
      ...(b.xmitHashPolicy ? { xmitHashPolicy: b.xmitHashPolicy } : {}),
    };
  }
  if (vlan) iface.vlans = [{ vlanId: c.talos.vlan, dhcp: false, mtu: c.network.mtu, addresses, routes }];
  else Object.assign(iface, { addresses, routes });
  return iface;
}

function installSection(node: NodeConfig): Record<string, unknown> {
  if (node.installDiskSelector) return { diskSelector: node.installDiskSelector };
  return { disk: node.installDisk ?? '/dev/sda' };
}

/** JSON-valued template variables of the machine options. */
export function machineVars(c: ClusterConfig, node?: NodeConfig): Record<string, string> {
  const v6 = c.ipv6;
  const vars: Record<string, string> = {
    NODE_SUBNETS_JSON: JSON.stringify([c.network.nodeCidr, ...(v6 ? [v6.nodeCidr] : [])]),
    POD_SUBNETS_JSON: JSON.stringify([c.network.podCidr, ...(v6 ? [v6.podCidr] : [])]),
    SERVICE_SUBNETS_JSON: JSON.stringify([c.network.serviceCidr, ...(v6 ? [v6.serviceCidr] : [])]),
    KERNEL_ARGS_JSON: JSON.stringify(kernelArgs(c)),
    VIP_INTERFACES_JSON: JSON.stringify([onLink(c, { vip: { ip: c.network.vip } })]),
  };
  if (node) {
    vars.NODE_INTERFACES_JSON = JSON.stringify([nodeInterface(c, node)]);
    vars.NODE_INSTALL_JSON = JSON.stringify(installSection(node));
  }
  return vars;
}

/** Config documents beside the v1alpha1 patch of a template: VolumeConfig for STATE/EPHEMERAL encryption (common). */
export function machineDocuments(c: ClusterConfig, template: string): Record<string, unknown>[] {
  const enc = c.talos.encryption;
  if (template !== 'common.yaml' || !enc) return [];
  const key = enc.key === 'tpm' ? { slot: 0, tpm: {} } : { slot: 0, nodeID: {} };
  return enc.volumes.map((name) => ({
    apiVersion: 'v1alpha1',
    kind: 'VolumeConfig',
    name,
    encryption: { provider: 'luks2', keys: [key] },
  }));
}

/** The `machine` variable of terraform/01-infrastructure: what the VMs and their META network config need to know. */
export function terraformMachine(c: ClusterConfig): Record<string, unknown> {
  const b = c.talos.bond;
  return {
    link: nodeLink(c),
    nics: b ? b.interfaces : [c.network.interface],
    ...(b ? { bond: { mode: b.mode, miimon: b.miimon } } : {}),
    ...(c.talos.vlan !== undefined ? { vlan_id: c.talos.vlan } : {}),
    ...(c.ipv6 ? { ipv6: { prefix: Number(prefixOf(c.ipv6.nodeCidr)), gateway: c.ipv6.gateway } } : {}),
    vtpm: c.talos.encryption?.key === 'tpm',
  };
}
