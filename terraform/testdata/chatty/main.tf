# A contract-satisfying module whose every instance prints var.lines lines
# of 100 characters as it is made, as a chatty bootstrap script might. Each
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
  type = map(object({ zone = string, gpus = number }))
}

variable "lines" {
  type = number
}

variable "live" {
  type = string
}

resource "terraform_data" "instance" {
  for_each = var.instances
  input    = { zone = each.value.zone, gpus = each.value.gpus, marker = "${var.live}/${each.key}" }

  provisioner "local-exec" {
    command = "yes 'chatty: ${join("", [for i in range(92) : "x"])}' | head -n ${var.lines}; touch '${self.output.marker}'"
  }

  provisioner "local-exec" {
    when    = destroy
    command = "rm -f '${self.output.marker}'"
  }
}

output "instances" {
  value = { for k, v in terraform_data.instance : k => { id = "tf-${v.id}", zone = v.output.zone, private_ip = "127.0.0.1", gpus = v.output.gpus } }
}
