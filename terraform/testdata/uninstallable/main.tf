# A contract-satisfying module that names a provider no host can install
# (registry.invalid never resolves): init fails, as it does for any provider
# on a host without access to its registry.
terraform {
  required_version = ">= 1.5.0"
  backend "local" {}
  required_providers {
    gpu = {
      source = "registry.invalid/spillway/gpu"
    }
  }
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
