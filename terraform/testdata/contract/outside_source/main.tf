# Calls child modules by local paths: one inside the module directory
# (which itself calls one outside), one outside it, one that is missing.
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
  type = map(object({ zone = string }))
}

module "inner" {
  source = "./modules/inner"
}

module "shared" {
  source = "../no_output"
}

module "gone" {
  source = "./modules/gone"
}

output "instances" {
  value = {}
}
