variable "instances" {
  type = map(object({ zone = string, gpus = number }))
}

variable "live" {
  type = string
}

resource "terraform_data" "instance" {
  for_each = var.instances
  input    = { zone = each.value.zone, marker = "${var.live}/${each.key}" }

  provisioner "local-exec" {
    command = "touch '${self.output.marker}'"
  }

  provisioner "local-exec" {
    when    = destroy
    command = "rm -f '${self.output.marker}'"
  }
}

output "instances" {
  value = { for k, v in terraform_data.instance : k => { id = "tf-${v.id}", zone = v.output.zone, private_ip = "127.0.0.1" } }
}
