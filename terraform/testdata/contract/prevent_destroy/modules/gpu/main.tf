variable "instances" {
  type = map(any)
}

resource "terraform_data" "volume" {
  for_each = var.instances

  lifecycle {
    prevent_destroy = true
  }
}
