# Layer 00: what must outlive a cluster rebuild. `task destroy` keeps this layer unless asked (--include-persistent).
#
# It holds the cluster's Proxmox resource pool: layer 01 puts every VM in it, and whatever permissions you grant on
# /pool/<pool> (operators, monitoring, backup jobs) keep working when the VMs are destroyed and rebuilt.
#
# Deliberately NOT here: credentials whose values Terraform would have to keep in its state file in plain text.
# The Proxmox CSI token is made by `task storage:csi-token` (pveum over SSH, sealed straight into the GitOps tree) and
# the sealed-secrets keypair by the bootstrap (kept in your keyring); both survive rebuilds without ever touching
# terraform.tfstate.

locals {
  pool_id = "k8s-${var.cluster_name}"
}

resource "proxmox_virtual_environment_pool" "cluster" {
  pool_id = local.pool_id
  comment = "Kubernetes cluster ${var.cluster_name} (Talos VMs, managed by terraform/00-persistent-auth; survives rebuilds)"
}
