# A contract-satisfying module of Terraform's built-in resources only: each
# instance is a terraform_data, its state in the burst's directory.
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
}

output "instances" {
  value = { for k, v in terraform_data.instance : k => { id = v.id, zone = v.output.zone, private_ip = "10.0.0.1", gpus = v.output.gpus } }
}
