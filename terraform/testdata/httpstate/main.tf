# A contract-satisfying module whose state is in Terraform's http backend
# (a test server), which keeps a lock until it is released: the stale-lock
# case. A var.pad other than "" is kept in the state. While var.hold exists,
# creating an instance touches var.started, then waits for var.hold to go.
terraform {
  required_version = ">= 1.5.0"
  backend "http" {}
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

variable "hold" {
  type = string
}

variable "started" {
  type = string
}

variable "pad" {
  type    = string
  default = ""
}

resource "terraform_data" "pad" {
  count = var.pad == "" ? 0 : 1
  input = var.pad
}

resource "terraform_data" "instance" {
  for_each = var.instances
  input    = each.value

  provisioner "local-exec" {
    command = "if [ -f \"$HOLD\" ]; then touch \"$STARTED\"; while [ -f \"$HOLD\" ]; do sleep 0.05; done; fi"
    environment = {
      HOLD    = var.hold
      STARTED = var.started
    }
  }
}

output "instances" {
  value = { for k, v in terraform_data.instance : k => { id = v.id, zone = v.output.zone, private_ip = "127.0.0.1", gpus = v.output.gpus } }
}
