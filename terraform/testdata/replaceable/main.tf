# A contract-satisfying module whose instances are replaced when the image
# (a fixed variable) changes, as an aws_instance is when its ami does: a
# change of the provider's config makes the next plan replace every
# running instance of a burst.
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

variable "image" {
  type = string
}

resource "terraform_data" "instance" {
  for_each         = var.instances
  triggers_replace = [var.image]
  input            = each.value
}

output "instances" {
  value = {
    for k, v in terraform_data.instance : k => {
      id         = "tf-${v.id}"
      zone       = v.input.zone
      private_ip = "10.0.0.1"
      gpus       = v.input.gpus
    }
  }
}
