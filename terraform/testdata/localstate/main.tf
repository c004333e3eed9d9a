# A contract-satisfying module whose state is in Terraform's local backend
# at a path backend_config gives (path = ".../{burst}.tfstate"): the state
# of each burst is outside its directory, as with a remote backend.
terraform {
  required_version = ">= 1.5.0"
  backend "local" {}
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
  type    = string
  default = ""
}

variable "started" {
  type    = string
  default = ""
}

resource "terraform_data" "instance" {
  for_each = var.instances
  input    = each.value

  provisioner "local-exec" {
    command = "if [ -n \"$HOLD\" ] && [ -f \"$HOLD\" ]; then touch \"$STARTED\"; while [ -f \"$HOLD\" ]; do sleep 0.05; done; fi"
    environment = {
      HOLD    = var.hold
      STARTED = var.started
    }
  }
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
