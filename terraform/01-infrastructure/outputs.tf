# Read by the bootstrap with `terraform output -json` (scripts/lib/terraform/terraform.ts): keep these names.

output "schematic_id" {
  description = "Image Factory schematic of the install/upgrade image (extensions and kernel arguments, no META)."
  value       = talos_image_factory_schematic.installer.id
}

output "installer_image" {
  description = "Install image for `talosctl gen config --install-image` and upgrades (metal platform)."
  value       = "${trimsuffix(replace(replace(var.image_factory_url, "https://", ""), "http://", ""), "/")}/metal-installer/${talos_image_factory_schematic.installer.id}:${var.talos_version}"
}

output "node_ips" {
  description = "Node name => static IP."
  value       = { for name, n in module.node : name => n.ip }
}

output "vm_ids" {
  description = "Node name => Proxmox VM id."
  value       = { for name, n in module.node : name => n.vm_id }
}

output "node_schematic_ids" {
  description = "Node name => schematic of its boot image (with its network configuration in META key 10)."
  value       = { for name, n in module.node : name => n.schematic_id }
}
