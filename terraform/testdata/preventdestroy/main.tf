# A contract-satisfying module whose instances Terraform refuses to
# destroy (lifecycle prevent_destroy) while var.protect is true: a plan that
# ends one fails with "Instance cannot be destroyed", however often it is
# retried.
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

resource "terraform_data" "instance" {
  for_each = var.instances
  input    = each.value

  lifecycle {
    prevent_destroy = true
  }
}

output "instances" {
  value = { for k, v in terraform_data.instance : k => { id = v.id, zone = v.output.zone, private_ip = "10.0.0.1", gpus = v.output.gpus } }
}
