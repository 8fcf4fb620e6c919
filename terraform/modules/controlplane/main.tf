# Control planes: started first (etcd quorum and the API VIP live here).
# One module per node type; both build their VMs with ../talos-vm.
terraform {
  required_providers {
    proxmox = {
      source = "bpg/proxmox"
    }
    talos = {
      source = "siderolabs/talos"
    }
  }
}

module "node" {
  source   = "../talos-vm"
  for_each = var.nodes

  name          = each.key
  role          = "controlplane"
  ip            = each.value.ip
  vm_id         = each.value.vm_id
  cpu           = each.value.cpu
  memory_mib    = each.value.memory_mib
  disk_gib      = each.value.disk_gib
  startup_order = 1
  tags          = [var.cluster_name]
  pool_id       = var.pool_id
  network       = var.network
  talos         = var.talos
  proxmox       = var.proxmox
}
