# A module whose instance resource was renamed (terraform_data.instance to
# terraform_data.node) and whose instances output still names the old one:
# its files parse, and every plan of it fails with Terraform's "Reference
# to undeclared resource".
terraform {
  required_version = ">= 1.5.0"
}

variable "cluster" {
  type = string
}

variable "pool" {
  type = string
}

variable "burst" {
  type = string
}

variable "instances" {
  type = map(object({ zone = string, gpus = number }))
}

resource "terraform_data" "node" {
  for_each = var.instances
  input    = each.value
}

output "instances" {
  value = { for k, v in terraform_data.instance : k => { id = v.id, zone = v.output.zone, private_ip = "10.0.0.1", gpus = v.output.gpus } }
}
