# Credentials come from the environment only: PROXMOX_VE_API_TOKEN ("user@realm!token=secret").
provider "proxmox" {
  endpoint = var.proxmox_endpoint
  insecure = var.proxmox_insecure

  # The provider uses SSH for the few operations the Proxmox API cannot do.
  ssh {
    agent    = true
    username = var.proxmox_ssh_user
  }
}

provider "talos" {
  image_factory_url = var.image_factory_url
}
