output "instances" {
  description = "The instances that exist, by key (the module contract)."
  value = {
    for k, i in aws_instance.this : k => {
      id         = i.id
      zone       = i.availability_zone
      private_ip = i.private_ip
      gpus       = var.instances[k].gpus
      state      = i.instance_state
    }
  }
}

output "cloud_instances" {
  description = "Every instance the cloud holds for this burst, found by its tags (not the state): instance id => its key. Spillway finds the instance of a cut-off create by it."
  value       = { for id, i in data.aws_instance.burst : id => lookup(i.tags, "spillway:key", "") }
}
