# A burst module of Terraform's built-in resources only, for the server's
# end-to-end test: each instance is a terraform_data, reported at a fixed
# private address where the test serves its agent.
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
  type = map(object({
    zone = string
    gpus = number
    tags = map(string)
  }))
}

variable "address" {
  description = "The private address every instance reports (the test's agent)."
  type        = string
}

resource "terraform_data" "instance" {
  for_each = var.instances
  input = {
    zone = each.value.zone
    gpus = each.value.gpus
    tags = each.value.tags
  }
}

output "instances" {
  value = {
    for k, r in terraform_data.instance : k => {
      id         = "tf-${r.id}"
      zone       = r.input.zone
      private_ip = var.address
      gpus       = r.input.gpus
    }
  }
}
