# A contract-satisfying module whose instance cannot be ended while a file
# named for it (or one named all) exists in var.fail_dir: its destroy-time provisioner fails,
# as a cloud's refusal to terminate (a protected instance, an expired
# credential) fails an apply.
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

variable "fail_dir" {
  type = string
}

resource "terraform_data" "instance" {
  for_each = var.instances
  input    = { zone = each.value.zone, gpus = each.value.gpus, fail_dir = var.fail_dir }

  provisioner "local-exec" {
    when    = destroy
    command = "if [ -e \"$FAIL_DIR/tf-$ID\" ] || [ -e \"$FAIL_DIR/all\" ]; then echo \"OperationDenied: instance tf-$ID is protected from termination\" >&2; exit 1; fi"
    environment = {
      FAIL_DIR = self.input.fail_dir
      ID       = self.id
    }
  }
}

output "instances" {
  value = {
    for k, v in terraform_data.instance : k => {
      id         = "tf-${v.id}"
      zone       = v.input.zone
      private_ip = "10.0.0.1"
      gpus       = v.input.gpus
    }
  }
}
