output "instances" {
  description = "The instances that exist, by key (the module contract)."
  value = {
    for k, i in alicloud_instance.this : k => {
      id         = i.id
      zone       = i.availability_zone
      private_ip = i.private_ip
      gpus       = var.instances[k].gpus
      state      = i.status
    }
  }
}
