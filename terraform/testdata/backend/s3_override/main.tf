# No backend in main.tf; backend_override.tf adds one.
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

output "instances" {
  value = { for k, v in var.instances : k => { id = k, zone = v.zone, private_ip = "10.0.0.1", gpus = v.gpus } }
}
