# A contract-satisfying module whose instances Terraform refuses to
# destroy (lifecycle prevent_destroy): a plan that ends one fails with
# "Instance cannot be destroyed", however often it is retried. Each
# instance reports private_ip, where a test may serve its agent.
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
  type    = string
  default = "10.0.0.1"
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
