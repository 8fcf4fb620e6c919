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
  # Where the node addresses sit: the link (the NIC, or the bond over the NICs), or its VLAN ("<link>.<vid>", the name
  # Talos gives the VLAN link of the machine config too, so both layers describe the same link).
  addr_link = var.machine.vlan_id == null ? var.machine.link : "${var.machine.link}.${var.machine.vlan_id}"
  bonds     = var.machine.bond == null ? [] : [var.machine.bond]
  vlans     = var.machine.vlan_id == null ? [] : [var.machine.vlan_id]
  ipv6s     = var.ipv6 == null ? [] : [var.ipv6]
  # The node's addresses, each with its default route: IPv4 always, IPv6 with dual-stack.
  families = concat(
    [{ family = "inet4", address = "${var.ip}/${var.network.prefix}", gateway = var.network.gateway, priority = 1024 }],
    [for a in local.ipv6s : { family = "inet6", address = "${a}/${var.machine.ipv6.prefix}", gateway = var.machine.ipv6.gateway, priority = 2048 }],
  )

  # Talos network resource specs (the MetalNetworkPlatformConfig format), layer "platform"; field names as in
  # siderolabs/talos pkg/machinery/resources/network (link_spec.go, address_spec.go, route_spec.go).
  network_config = {
    addresses = [for f in local.families : {
      address  = f.address
      linkName = local.addr_link
      family   = f.family
      scope    = "global"
      flags    = "permanent"
      layer    = "platform"
    }]
    links = concat(
      [for i, nic in var.machine.nics : merge(
        {
          name    = nic
          logical = false
          up      = true
          mtu     = var.network.mtu
          kind    = ""
          type    = "ether"
          layer   = "platform"
        },
        [for b in local.bonds : { masterName = var.machine.link, slaveIndex = i }]...
      )],
      [for b in local.bonds : {
        name       = var.machine.link
        logical    = true
        up         = true
        mtu        = var.network.mtu
        kind       = "bond"
        type       = "ether"
        bondMaster = { mode = b.mode, miimon = b.miimon }
        layer      = "platform"
      }],
      [for vid in local.vlans : {
        name       = local.addr_link
        logical    = true
        up         = true
        mtu        = var.network.mtu
        kind       = "vlan"
        type       = "ether"
        parentName = var.machine.link
        vlan       = { vlanID = vid, vlanProtocol = "802.1q" }
        layer      = "platform"
      }],
    )
    routes = [for f in local.families : {
      family      = f.family
      dst         = ""
      src         = ""
      gateway     = f.gateway
      outLinkName = local.addr_link
      table       = "main"
      priority    = f.priority
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

  # One device per NIC (a bond has several); under net.ifnames=0 the guest names them eth0, eth1, … in this order.
  dynamic "network_device" {
    for_each = var.machine.nics
    content {
      bridge = var.proxmox.bridge
      model  = "virtio"
      mtu    = var.network.mtu
    }
  }

  # A vTPM for TPM-sealed STATE/EPHEMERAL encryption (config talos.encryption.key: tpm).
  dynamic "tpm_state" {
    for_each = var.machine.vtpm ? [1] : []
    content {
      datastore_id = var.proxmox.storage
      version      = "v2.0"
    }
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
