# Satisfies the Spillway module contract, but wants a Terraform that does
# not exist yet.
terraform {
  required_version = ">= 1.5.0, >= 99.0"
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
  value = {}
}
