output "pool_id" {
  description = "Proxmox resource pool of the cluster's VMs."
  value       = proxmox_virtual_environment_pool.cluster.pool_id
}
