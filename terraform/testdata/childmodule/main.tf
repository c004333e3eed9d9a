# A contract-satisfying module that makes its instances in a child module,
# so that it needs `terraform init` (which installs the child module) to
# plan. Each instance is a file under var.live, made on create and removed
# on destroy, so a test sees what still exists.
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

variable "live" {
  type = string
}

module "instance" {
  source    = "./instance"
  instances = var.instances
  live      = var.live
}

output "instances" {
  value = module.instance.instances
}
