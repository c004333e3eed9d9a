# A contract-satisfying module whose every instance's provisioner writes
# var.bytes bytes to Terraform's own stderr (as a provider plugin that
# crashes, or a script writing to its parent's stderr, would), then fails
# when var.fail is set. Linux only: it writes to /proc/$PPID/fd/2.
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

variable "bytes" {
  type = number
}

variable "fail" {
  type = bool
}

resource "terraform_data" "instance" {
  for_each = var.instances
  input    = { zone = each.value.zone, gpus = each.value.gpus }

  provisioner "local-exec" {
    command = "yes 'stderr: ${join("", [for i in range(92) : "x"])}' | head -c ${var.bytes} > /proc/$PPID/fd/2; echo 'the last words of the failure' > /proc/$PPID/fd/2; exit ${var.fail ? 1 : 0}"
  }
}

output "instances" {
  value = { for k, v in terraform_data.instance : k => { id = "tf-${v.id}", zone = v.output.zone, private_ip = "127.0.0.1", gpus = v.output.gpus } }
}
