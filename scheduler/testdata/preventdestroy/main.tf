# A contract-satisfying module whose instances Terraform refuses to
# destroy (lifecycle prevent_destroy): every terminate of one fails alike,
# however often it is retried. Each instance reports private_ip, where the
# test serves its agent.
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

variable "private_ip" {
  type = string
}

resource "terraform_data" "instance" {
  for_each = var.instances
  input    = each.value

  lifecycle {
    prevent_destroy = true
  }
}

output "instances" {
  value = { for k, v in terraform_data.instance : k => { id = v.id, zone = v.output.zone, private_ip = var.private_ip, gpus = v.output.gpus } }
}
