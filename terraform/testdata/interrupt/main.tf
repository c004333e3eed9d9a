# A Spillway burst module for the interrupt tests, made only of Terraform's
# built-in resources, with its state on an http backend (as a team's shared
# remote state would be: written at the end of a run, or when Terraform is
# interrupted, not after each resource).
#
# var.cloud is a directory standing for the cloud. Each instance is a
# terraform_data whose create-time provisioner launches it (writes
# instances/<id>) and counts its runs (a line with its key in runs); its
# destroy-time provisioner ends it. Once every instance exists, a second
# terraform_data per instance registers it, as a node registration script
# would: while the file var.hold exists, its provisioner starts a child
# process (an agent), says so (registering/<key>) and waits for the file
# to go.
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

variable "cloud" {
  type = string
}

variable "hold" {
  type = string
}

resource "terraform_data" "instance" {
  for_each = var.instances
  input    = { zone = each.value.zone, gpus = each.value.gpus, cloud = var.cloud }

  provisioner "local-exec" {
    command = "mkdir -p \"$CLOUD/instances\" && echo \"$KEY\" >> \"$CLOUD/runs\" && touch \"$CLOUD/instances/$ID\""
    environment = {
      CLOUD = var.cloud
      KEY   = each.key
      ID    = self.id
    }
  }

  provisioner "local-exec" {
    when    = destroy
    command = "rm -f \"$CLOUD/instances/$ID\""
    environment = {
      CLOUD = self.input.cloud
      ID    = self.id
    }
  }
}

resource "terraform_data" "registration" {
  for_each = var.instances
  input    = terraform_data.instance[each.key].id

  provisioner "local-exec" {
    command = <<-EOT
      [ -f "$HOLD" ] || exit 0
      sleep 3600 &
      mkdir -p "$CLOUD/registering" && touch "$CLOUD/registering/$KEY"
      while [ -f "$HOLD" ]; do sleep 0.05; done
    EOT
    environment = {
      CLOUD = var.cloud
      HOLD  = var.hold
      KEY   = each.key
    }
  }
}

output "instances" {
  value = { for k, v in terraform_data.instance : k => { id = v.id, zone = v.output.zone, private_ip = "127.0.0.1", gpus = v.output.gpus } }
}
