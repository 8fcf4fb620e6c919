variable "cluster_name" {
  description = "Cluster name, added as a Proxmox tag."
  type        = string
}

variable "nodes" {
  description = "The controlplane nodes: name => address, VM id and size."
  type = map(object({
    ip         = string
    vm_id      = number
    cpu        = number
    memory_mib = number
    disk_gib   = number
  }))
}

variable "pool_id" {
  description = "Proxmox resource pool of the cluster."
  type        = string
}

variable "network" {
  description = "Node network settings (see ../talos-vm)."
  type = object({
    prefix      = number
    gateway     = string
    dns_servers = list(string)
    interface   = string
    mtu         = number
  })
}

variable "talos" {
  description = "Talos image settings (see ../talos-vm)."
  type = object({
    version     = string
    factory_url = string
    extensions  = list(string)
    kernel_args = list(string)
  })
}

variable "proxmox" {
  description = "Proxmox placement (see ../talos-vm)."
  type = object({
    node          = string
    storage       = string
    image_storage = string
    bridge        = string
  })
}
