output "ip" {
  description = "The node's static address."
  value       = var.ip
}

output "vm_id" {
  description = "Proxmox VM id."
  value       = proxmox_virtual_environment_vm.node.vm_id
}

output "schematic_id" {
  description = "Image Factory schematic of this node's boot image (extensions + META key 10)."
  value       = talos_image_factory_schematic.node.id
}
