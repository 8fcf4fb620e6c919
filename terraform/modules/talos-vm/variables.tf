variable "name" {
  description = "Node name: VM name and Talos hostname."
  type        = string
}

variable "role" {
  description = "controlplane or worker."
  type        = string

  validation {
    condition     = contains(["controlplane", "worker"], var.role)
    error_message = "role must be controlplane or worker."
  }
}

variable "ip" {
  description = "Static IPv4 address of the node."
  type        = string
}

variable "ipv6" {
  description = "Static IPv6 address of the node (dual-stack); null: IPv4 only."
  type        = string
  default     = null
}

variable "vm_id" {
  description = "Proxmox VM id."
  type        = number
}

variable "cpu" {
  description = "vCPUs."
  type        = number
}

variable "memory_mib" {
  description = "Memory in MiB."
  type        = number
}

variable "disk_gib" {
  description = "System disk size in GiB."
  type        = number
}

variable "startup_order" {
  description = "Proxmox start order: control planes before workers."
  type        = number
}

variable "tags" {
  description = "Extra Proxmox tags."
  type        = list(string)
  default     = []
}

variable "pool_id" {
  description = "Proxmox resource pool (layer 00-persistent-auth)."
  type        = string
}

variable "network" {
  description = "Node network: prefix length, gateway, resolvers, interface name, MTU."
  type = object({
    prefix      = number
    gateway     = string
    dns_servers = list(string)
    interface   = string
    mtu         = number
  })
}

variable "machine" {
  description = "Talos machine options the VM and its META network config carry: the node link (NIC or bond), its NICs, bond, VLAN, IPv6 gateway and prefix, vTPM."
  type = object({
    link    = string
    nics    = list(string)
    bond    = optional(object({ mode = string, miimon = number }))
    vlan_id = optional(number)
    ipv6    = optional(object({ prefix = number, gateway = string }))
    vtpm    = bool
  })
}

variable "talos" {
  description = "Talos version, Image Factory URL, official extensions and extra kernel arguments."
  type = object({
    version     = string
    factory_url = string
    extensions  = list(string)
    kernel_args = list(string)
  })
}

variable "proxmox" {
  description = "Proxmox node, VM disk storage, image storage (content type import) and bridge."
  type = object({
    node          = string
    storage       = string
    image_storage = string
    bridge        = string
  })
}
