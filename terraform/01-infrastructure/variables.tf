# Values come from terraform/generated/<cluster>/01-infrastructure.tfvars.json (`task configure`). The names here and
# there must match: `task validate` compares them.

variable "cluster_name" {
  description = "Cluster name (config cluster.name)."
  type        = string
}

variable "cluster_id" {
  description = "Cluster id 1-255 (config cluster.id)."
  type        = number

  validation {
    condition     = var.cluster_id >= 1 && var.cluster_id <= 255
    error_message = "cluster_id must be 1-255."
  }
}

variable "proxmox_endpoint" {
  description = "Proxmox API URL (config proxmox.apiUrl)."
  type        = string
}

variable "proxmox_insecure" {
  description = "Accept a self-signed Proxmox API certificate (config proxmox.insecure)."
  type        = bool
}

variable "proxmox_node" {
  description = "Proxmox node the VMs run on (config proxmox.node)."
  type        = string
}

variable "proxmox_ssh_user" {
  description = "SSH user the provider uses for operations the API cannot do (config proxmox.sshUser)."
  type        = string
}

variable "proxmox_storage" {
  description = "Storage for VM disks (config proxmox.storage)."
  type        = string
}

variable "proxmox_image_storage" {
  description = "Storage the Talos disk images are downloaded to; needs the `import` content type (config proxmox.imageStorage)."
  type        = string
}

variable "proxmox_bridge" {
  description = "Bridge the VMs attach to (config proxmox.bridge)."
  type        = string
}

variable "talos_version" {
  description = "Talos version, e.g. v1.11.6 (config versions.talos)."
  type        = string

  validation {
    condition     = can(regex("^v[0-9]+\\.[0-9]+\\.[0-9]+$", var.talos_version))
    error_message = "talos_version must look like v1.11.6."
  }
}

variable "image_factory_url" {
  description = "Talos Image Factory (config imageFactory.url)."
  type        = string
}

variable "talos_extensions" {
  description = "Official system extensions baked into every image (config imageFactory.extensions)."
  type        = list(string)
}

variable "talos_extra_kernel_args" {
  description = "Extra kernel arguments (config imageFactory.extraKernelArgs)."
  type        = list(string)
}

variable "network" {
  description = "Node network (config network)."
  type = object({
    cidr        = string
    prefix      = number
    gateway     = string
    dns_servers = list(string)
    interface   = string
    mtu         = number
    vip         = string
  })

  validation {
    condition     = tonumber(split("/", var.network.cidr)[1]) == var.network.prefix
    error_message = "network.prefix must be the prefix length of network.cidr."
  }
}

variable "machine" {
  description = "Talos machine options the VMs carry (config talos and ipv6): node link, NICs, bond, VLAN, IPv6, vTPM."
  type = object({
    link    = string
    nics    = list(string)
    bond    = optional(object({ mode = string, miimon = number }))
    vlan_id = optional(number)
    ipv6    = optional(object({ prefix = number, gateway = string }))
    vtpm    = bool
  })
  default = { link = "eth0", nics = ["eth0"], vtpm = false }
}

variable "nodes" {
  description = "Nodes by name (config nodes)."
  type = map(object({
    role       = string
    ip         = string
    vm_id      = number
    cpu        = number
    memory_mib = number
    disk_gib   = number
    ipv6       = optional(string)
  }))

  validation {
    condition     = alltrue([for n in var.nodes : contains(["controlplane", "worker"], n.role)])
    error_message = "Every node role must be controlplane or worker."
  }

  validation {
    condition     = length(distinct([for n in var.nodes : n.vm_id])) == length(var.nodes)
    error_message = "Node VM ids must be unique."
  }

  validation {
    condition     = length(distinct([for n in var.nodes : n.ip])) == length(var.nodes)
    error_message = "Node IPs must be unique."
  }

  validation {
    condition     = length([for n in var.nodes : n if n.role == "controlplane"]) % 2 == 1
    error_message = "The number of control planes must be odd (etcd quorum)."
  }
}
