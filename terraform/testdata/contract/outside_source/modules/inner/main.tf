module "sibling" {
  source = "../../../no_instances"
}
