resource "terraform_data" "registration" {
  lifecycle {
    prevent_destroy = false
  }
}
