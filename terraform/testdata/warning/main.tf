# A contract-satisfying module whose check block fails for every burst
# that holds an instance: Terraform warns, and the plan and apply go on.
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

check "reserved" {
  assert {
    condition     = length(var.instances) == 0
    error_message = "The burst holds more instances than the team reserved."
  }
}

output "instances" {
  value = { for k, v in terraform_data.instance : k => { id = v.id, zone = v.output.zone, private_ip = "10.0.0.1", gpus = v.output.gpus } }
}
