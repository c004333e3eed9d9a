# A contract-satisfying module whose Terraform dies mid-apply, as one killed
# by the OOM killer or whose provider plugin crashes does: while the file
# var.crash exists, creating an instance "launches" it (a file named for
# its key in var.cloud, the cloud's instance) and then kills Terraform
# (SIGKILL), once. The local backend does not write the state while a
# create-time provisioner runs, so no state records that instance.
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

variable "cloud" {
  type = string
}

variable "crash" {
  type = string
}

resource "terraform_data" "instance" {
  for_each = var.instances
  input    = { zone = each.value.zone, gpus = each.value.gpus, cloud = var.cloud, key = each.key }

  provisioner "local-exec" {
    command = "touch \"$CLOUD/$KEY\"; if [ -e \"$CRASH\" ]; then rm -f \"$CRASH\"; kill -9 $PPID; sleep 5; fi"
    environment = {
      CLOUD = var.cloud
      KEY   = each.key
      CRASH = var.crash
    }
  }

  provisioner "local-exec" {
    when    = destroy
    command = "rm -f \"$CLOUD/$KEY\""
    environment = {
      CLOUD = self.input.cloud
      KEY   = self.input.key
    }
  }
}

output "instances" {
  value = { for k, v in terraform_data.instance : k => { id = v.id, zone = v.output.zone, private_ip = "10.0.0.1", gpus = v.output.gpus } }
}
