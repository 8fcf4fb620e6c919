output "nodes" {
  description = "name => { ip, vm_id, schematic_id } of the worker nodes."
  value = {
    for name, node in module.node : name => {
      ip           = node.ip
      vm_id        = node.vm_id
      schematic_id = node.schematic_id
    }
  }
}
