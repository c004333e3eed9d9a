# State in HCP Terraform: its workspaces are not supported.
terraform {
  cloud {
    organization = "example"
    workspaces {
      name = "gpu"
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

output "instances" {
  value = { for k, v in var.instances : k => { id = k, zone = v.zone, private_ip = "10.0.0.1", gpus = v.gpus } }
}
