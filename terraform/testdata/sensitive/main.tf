# A contract-satisfying module whose instances output is sensitive, as
# Terraform requires when the output is built from a sensitive value, and
# which has another sensitive output, a password. Each
# instance is a file under var.live, made on create and removed on
# destroy, so a test sees what still exists.
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
  type      = map(object({ zone = string, gpus = number }))
  sensitive = true
}

variable "live" {
  type = string
}

resource "terraform_data" "instance" {
  for_each = nonsensitive(toset(keys(var.instances)))
  input    = { zone = var.instances[each.key].zone, marker = "${var.live}/${each.key}" }

  provisioner "local-exec" {
    command = "touch '${self.output.marker}'"
  }

  provisioner "local-exec" {
    when    = destroy
    command = "rm -f '${self.output.marker}'"
  }
}

output "instances" {
  value     = { for k, v in terraform_data.instance : k => { id = "tf-${v.id}", zone = v.output.zone, private_ip = "127.0.0.1" } }
  sensitive = true
}

output "admin_password" {
  value     = "hunter2-${var.burst}"
  sensitive = true
}
