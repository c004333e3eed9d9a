# A contract-satisfying module whose every instance fails to create: its
# local-exec prints a progress line drawn with terminal escapes (and a NUL),
# then a message, and exits 3, as a team's script might.
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

resource "terraform_data" "instance" {
  for_each = var.instances
  input    = each.value

  provisioner "local-exec" {
    command = "printf 'looking up the image \\033[2K\\r\\000\\n' >&2; echo 'no GPU image is shared with this account' >&2; exit 3"
  }
}

output "instances" {
  value = { for k, v in terraform_data.instance : k => { id = v.id, zone = v.output.zone, private_ip = "127.0.0.1", gpus = v.output.gpus } }
}
