# Layer 01: the cluster's VMs. Applied after 00-persistent-auth (its resource pool must exist), before the Talos
# bootstrap, which reads this layer's outputs (installer_image, schematic_id, node_ips).

locals {
  # eth0-style names need the kernel's classic interface naming.
  kernel_args = distinct(concat(
    can(regex("^eth[0-9]+$", var.network.interface)) ? ["net.ifnames=0"] : [],
    var.talos_extra_kernel_args,
  ))

  talos = {
    version     = var.talos_version
    factory_url = var.image_factory_url
    extensions  = var.talos_extensions
    kernel_args = local.kernel_args
  }

  proxmox = {
    node          = var.proxmox_node
    storage       = var.proxmox_storage
    image_storage = var.proxmox_image_storage
    bridge        = var.proxmox_bridge
  }

  node_network = {
    prefix      = var.network.prefix
    gateway     = var.network.gateway
    dns_servers = var.network.dns_servers
    interface   = var.network.interface
    mtu         = var.network.mtu
  }
}

# Created by layer 00-persistent-auth; reading it here fails early when that layer was not applied.
data "proxmox_virtual_environment_pool" "cluster" {
  pool_id = "k8s-${var.cluster_name}"
}

# The install/upgrade image: the same extensions and kernel arguments as the nodes' boot images, without the per-node
# META (META survives installs and upgrades on the node's own disk).
resource "talos_image_factory_schematic" "installer" {
  schematic = yamlencode({
    customization = {
      extraKernelArgs = local.kernel_args
      systemExtensions = {
        officialExtensions = var.talos_extensions
      }
    }
  })
}

# One VM per node. Creation order does not matter (Talos waits in maintenance mode for the bootstrap's config);
# boot order does: control planes start first, as etcd quorum and the API VIP live there.
module "node" {
  source   = "../modules/talos-vm"
  for_each = var.nodes

  name          = each.key
  role          = each.value.role
  ip            = each.value.ip
  ipv6          = each.value.ipv6
  vm_id         = each.value.vm_id
  cpu           = each.value.cpu
  memory_mib    = each.value.memory_mib
  disk_gib      = each.value.disk_gib
  startup_order = each.value.role == "controlplane" ? 1 : 2
  tags          = [var.cluster_name]
  pool_id       = data.proxmox_virtual_environment_pool.cluster.pool_id
  network       = local.node_network
  machine       = var.machine
  talos         = local.talos
  proxmox       = local.proxmox
}
