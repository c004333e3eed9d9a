variable "cluster" {
  type = string
}

variable "pool" {
  type = number
}

variable "burst" {
  type = string
}

variable "instances" {
  type = map(object({ zone = string, gpus = number }))
}

output "instances" {
  value = {}
}
