# One Talos VM on Proxmox, booted from a metal disk image whose Image Factory schematic carries the node's static
# network configuration in META key 10 (0xa). Only the `metal` platform reads that key, so the image is metal-amd64;
# the node comes up in maintenance mode already on its address, without DHCP.
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

locals {
  # Talos network resource specs (the MetalNetworkPlatformConfig format), layer "platform".
  network_config = {
    addresses = [{
      address  = "${var.ip}/${var.network.prefix}"
      linkName = var.network.interface
      family   = "inet4"
      scope    = "global"
      flags    = "permanent"
      layer    = "platform"
    }]
    links = [{
      name    = var.network.interface
      logical = false
      up      = true
      mtu     = var.network.mtu
      kind    = ""
      type    = "ether"
      layer   = "platform"
    }]
    routes = [{
      family      = "inet4"
      dst         = ""
      src         = ""
      gateway     = var.network.gateway
      outLinkName = var.network.interface
      table       = "main"
      priority    = 1024
      scope       = "global"
      type        = "unicast"
      flags       = ""
      protocol    = "static"
      layer       = "platform"
    }]
    hostnames = [{
      hostname   = var.name
      domainname = ""
      layer      = "platform"
    }]
    resolvers = [{
      dnsServers = var.network.dns_servers
      layer      = "platform"
    }]
    timeServers = []
  }

  image_file = "talos-${talos_image_factory_schematic.node.id}-${var.talos.version}-metal-amd64.qcow2"
}

# Same content, same id: re-applying never creates a second schematic.
resource "talos_image_factory_schematic" "node" {
  schematic = yamlencode({
    customization = {
      extraKernelArgs = var.talos.kernel_args
      meta = [{
        key   = 10
        value = yamlencode(local.network_config)
      }]
      systemExtensions = {
        officialExtensions = var.talos.extensions
      }
    }
  })
}

resource "proxmox_virtual_environment_download_file" "image" {
  content_type = "import"
  datastore_id = var.proxmox.image_storage
  node_name    = var.proxmox.node
  url          = "${trimsuffix(var.talos.factory_url, "/")}/image/${talos_image_factory_schematic.node.id}/${var.talos.version}/metal-amd64.qcow2"
  file_name    = local.image_file
  overwrite    = false
}

resource "proxmox_virtual_environment_vm" "node" {
  name            = var.name
  description     = "Talos ${var.role} ${var.name} (${var.ip}); managed by terraform/01-infrastructure"
  vm_id           = var.vm_id
  node_name       = var.proxmox.node
  pool_id         = var.pool_id
  tags            = sort(distinct(concat(["talos", var.role], var.tags)))
  on_boot         = true
  stop_on_destroy = true
  bios            = "ovmf"
  machine         = "q35"
  # The Proxmox CSI plugin attaches volumes as SCSI disks: it needs a VirtIO SCSI controller.
  scsi_hardware = "virtio-scsi-single"

  startup {
    order    = var.startup_order
    up_delay = 15
  }

  operating_system {
    type = "l26"
  }

  cpu {
    # Talos needs x86-64-v2; "host" passes the host's flags through.
    type  = "host"
    cores = var.cpu
  }

  memory {
    dedicated = var.memory_mib
    # No ballooning and no hotplug (Talos does not support memory hotplug).
    floating = 0
  }

  agent {
    # Answered by the siderolabs/qemu-guest-agent extension.
    enabled = true
    trim    = true
  }

  network_device {
    bridge = var.proxmox.bridge
    model  = "virtio"
    mtu    = var.network.mtu
  }

  efi_disk {
    datastore_id = var.proxmox.storage
    file_format  = "raw"
    type         = "4m"
  }

  disk {
    datastore_id = var.proxmox.storage
    interface    = "scsi0"
    import_from  = proxmox_virtual_environment_download_file.image.id
    # raw works on every storage type (LVM-thin has no qcow2); the image is converted on import.
    file_format = "raw"
    size        = var.disk_gib
    iothread    = true
    ssd         = true
    discard     = "on"
  }

  lifecycle {
    # The image only seeds a new VM's disk. Talos upgrades go through `talosctl upgrade` (task talos:upgrade-node);
    # a new image must never replace a running node's disk.
    ignore_changes = [disk[0].import_from]
  }
}
