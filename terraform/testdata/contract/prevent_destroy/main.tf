# A module whose resources set lifecycle prevent_destroy: its instance
# (in the module and in a local child module), and beside it resources
# that do not (false, or true taken back by an override file).
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

resource "terraform_data" "instance" {
  for_each = var.instances
  input    = each.value

  lifecycle {
    prevent_destroy = true
  }
}

resource "terraform_data" "registration" {
  for_each = var.instances

  lifecycle {
    prevent_destroy = true
  }
}

resource "terraform_data" "kept" {
  lifecycle {
    prevent_destroy = false
  }
}

module "gpu" {
  source    = "./modules/gpu"
  instances = var.instances
}

output "instances" {
  value = { for k, v in terraform_data.instance : k => { id = v.id, zone = v.output.zone, private_ip = "10.0.0.1", gpus = v.output.gpus } }
}
