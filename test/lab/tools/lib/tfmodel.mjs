// What the fake Terraform's layers contain: the resources a layer's var file asks for and the outputs an apply
// leaves (shared by terraform.mjs and the lab's 'running' preset).
import { createHash } from 'node:crypto';

/** Image Factory: same customization ⇒ same schematic id (64 hex). */
export function schematicFor(vars) {
  const body = JSON.stringify({
    extensions: [...(vars.talos_extensions ?? [])].sort(),
    kernelArgs: vars.talos_extra_kernel_args ?? [],
    meta: vars.network ?? null,
  });
  return createHash('sha256').update(body).digest('hex');
}

export function desiredResources(layer, vars, lab) {
  if (/infrastructure/.test(layer)) {
    const nodes = vars.nodes
      ? Object.entries(vars.nodes).map(([name, n]) => ({ name, ip: n.ip, role: n.role, vmId: n.vm_id, cpu: n.cpu, memory: n.memory_mib, disk: n.disk_gib }))
      : lab.nodes.map((n, i) => ({ ...n, vmId: 1000 + i }));
    const schematic = schematicFor(vars);
    const tv = vars.talos_version ?? lab.talosVersion;
    return [
      { address: 'talos_image_factory_schematic.this', type: 'talos_image_factory_schematic', attrs: { id: schematic } },
      { address: 'proxmox_virtual_environment_download_file.talos', type: 'proxmox_virtual_environment_download_file', attrs: { url: `https://factory.talos.dev/image/${schematic}/${tv}/metal-amd64.qcow2` } },
      ...nodes.map((n) => ({ address: `proxmox_virtual_environment_vm.node["${n.name}"]`, type: 'proxmox_virtual_environment_vm', node: n, attrs: { name: n.name, ip: n.ip, role: n.role, vm_id: n.vmId, cpu: n.cpu, memory: n.memory, disk: n.disk, image: schematic, tv } })),
    ];
  }
  return [{ address: 'terraform_data.layer', type: 'terraform_data', attrs: { vars } }];
}

export function outputsFor(layer, vars, lab, resources) {
  const out = {};
  if (/infrastructure/.test(layer)) {
    const schematic = schematicFor(vars);
    const tv = vars.talos_version ?? lab.talosVersion;
    const vms = resources.filter((r) => r.node);
    out.schematic_id = { sensitive: false, type: 'string', value: schematic };
    out.installer_image = { sensitive: false, type: 'string', value: `factory.talos.dev/metal-installer/${schematic}:${tv}` };
    out.node_ips = { sensitive: false, type: ['map', 'string'], value: Object.fromEntries(vms.map((r) => [r.node.name, r.node.ip])) };
    out.vm_ids = { sensitive: false, type: ['map', 'number'], value: Object.fromEntries(vms.map((r) => [r.node.name, r.node.vmId])) };
  }
  for (const [k, v] of Object.entries(lab.terraformOutputs?.[layer] ?? {})) {
    out[k] = { sensitive: false, type: typeof v === 'string' ? 'string' : typeof v === 'number' ? 'number' : typeof v === 'boolean' ? 'bool' : ['object', {}], value: v };
  }
  return out;
}

