# A contract-satisfying module whose instances are terraform_data
# resources (made in a child module, once per key of var.instances), each
# named in the output by its own id, as an aws_instance's would be. In
# mode "count2" the child module makes two per key; in "spare" it is also
# called for a key apart from var.instances. Beside each instance, a
# registration of the same type (no instance: the output names none of
# its kind). Each instance is a file under var.live, made on create and
# removed on destroy, so a test sees what still exists.
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
  for_each = var.mode == "spare" ? merge(var.instances, { spare = { zone = "us-east-1a", gpus = 8 } }) : var.instances
  copies   = var.mode == "count2" ? 2 : 1
  marker   = "${var.live}/${each.key}"
}

resource "terraform_data" "registration" {
  for_each = var.instances
  input    = module.gpu[each.key].ids[0]
}

output "instances" {
  value = { for k, v in var.instances : k => { id = module.gpu[k].ids[0], zone = v.zone, private_ip = "127.0.0.1", gpus = v.gpus } }
}
