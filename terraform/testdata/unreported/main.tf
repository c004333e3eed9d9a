# A contract-satisfying module whose instances are terraform_data
# resources (made in a child module, once per key of var.instances), each
# named in the output by its own id, as an aws_instance's would be. In
# mode "count2" the child module makes two per key; in "twin" a second
# resource of the instance type is made per key; in "apart" one is made
# apart from var.instances. Each instance is a file under var.live, made
# on create and removed on destroy, so a test sees what still exists.
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

variable "mode" {
  type = string
}

variable "live" {
  type = string
}

module "gpu" {
  source   = "./modules/gpu"
  for_each = var.instances
  copies   = var.mode == "count2" ? 2 : 1
  marker   = "${var.live}/${each.key}"
}

resource "terraform_data" "twin" {
  for_each = var.mode == "twin" ? var.instances : {}
  input    = { marker = "${var.live}/${each.key}-twin" }

  provisioner "local-exec" {
    command = "touch '${self.output.marker}'"
  }

  provisioner "local-exec" {
    when    = destroy
    command = "rm -f '${self.output.marker}'"
  }
}

resource "terraform_data" "apart" {
  count = var.mode == "apart" ? 1 : 0
  input = { marker = "${var.live}/apart" }

  provisioner "local-exec" {
    command = "touch '${self.output.marker}'"
  }

  provisioner "local-exec" {
    when    = destroy
    command = "rm -f '${self.output.marker}'"
  }
}

output "instances" {
  value = { for k, v in var.instances : k => { id = module.gpu[k].ids[0], zone = v.zone, private_ip = "127.0.0.1", gpus = v.gpus } }
}
