# A contract-satisfying module that validates its variables: at most two
# instances per burst, and a fixed variable size under 10. Each instance
# is a file under var.live, made on create and removed on destroy, so a
# test sees what still exists.
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
  validation {
    condition     = length(var.instances) <= 2
    error_message = "At most 2 instances per burst."
  }
}

variable "size" {
  type = number
  validation {
    condition     = var.size < 10
    error_message = "The size must be under 10."
  }
}

variable "live" {
  type = string
}

resource "terraform_data" "instance" {
  for_each = var.instances
  input    = { zone = each.value.zone, gpus = each.value.gpus, marker = "${var.live}/${each.key}" }

  provisioner "local-exec" {
    command = "touch '${self.output.marker}'"
  }

  provisioner "local-exec" {
    when    = destroy
    command = "rm -f '${self.output.marker}'"
  }
}

output "instances" {
  value = { for k, v in terraform_data.instance : k => { id = "tf-${v.id}", zone = v.output.zone, private_ip = "127.0.0.1", gpus = var.instances[k].gpus } }
}
