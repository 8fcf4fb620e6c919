# Values come from terraform/generated/<cluster>/00-persistent-auth.tfvars.json (`task configure`). The names here and
# there must match: `task validate` compares them.

variable "cluster_name" {
  description = "Cluster name (config cluster.name); names the resource pool."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.cluster_name))
    error_message = "cluster_name must be an RFC 1123 label."
  }
}

variable "proxmox_endpoint" {
  description = "Proxmox API URL, e.g. https://pve.home.arpa:8006/ (config proxmox.apiUrl)."
  type        = string
}

variable "proxmox_insecure" {
  description = "Accept a self-signed Proxmox API certificate (config proxmox.insecure)."
  type        = bool
}

variable "proxmox_node" {
  description = "Proxmox node name (config proxmox.node); shared with layer 01, unused by the pool itself."
  type        = string
}

variable "proxmox_ssh_user" {
  description = "SSH user the provider uses for operations the API cannot do (config proxmox.sshUser)."
  type        = string
}
