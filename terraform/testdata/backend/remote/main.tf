# State in the remote backend (HCP Terraform): not supported.
terraform {
  backend "remote" {
    organization = "example"
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

output "instances" {
  value = { for k, v in var.instances : k => { id = k, zone = v.zone, private_ip = "10.0.0.1", gpus = v.gpus } }
}
