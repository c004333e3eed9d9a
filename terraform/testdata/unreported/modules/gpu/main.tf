# One GPU instance of a burst, made `copies` times (a module meant to be
# used once per key that counts its own instances).
variable "copies" {
  type = number
}

variable "marker" {
  type = string
}

resource "terraform_data" "instance" {
  count = var.copies
  input = { marker = "${var.marker}-${count.index}" }

  provisioner "local-exec" {
    command = "touch '${self.output.marker}'"
  }

  provisioner "local-exec" {
    when    = destroy
    command = "rm -f '${self.output.marker}'"
  }
}

output "ids" {
  value = terraform_data.instance[*].id
}
