# The one place provider and Terraform versions are pinned. Every layer links this file (versions.tf -> ../versions.tf),
# so both layers always run the same providers; modules only name their providers' sources. `task validate` fails on a
# `version` constraint anywhere else.
terraform {
  required_version = ">= 1.9.0, < 2.0.0"

  required_providers {
    proxmox = {
      source  = "bpg/proxmox"
      version = "0.86.0"
    }
    talos = {
      source  = "siderolabs/talos"
      version = "0.9.0"
    }
  }
}
