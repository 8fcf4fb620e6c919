# Credentials come from the environment only: PROXMOX_VE_API_TOKEN ("user@realm!token=secret").
provider "proxmox" {
  endpoint = var.proxmox_endpoint
  insecure = var.proxmox_insecure

  ssh {
    agent    = true
    username = var.proxmox_ssh_user
  }
}
