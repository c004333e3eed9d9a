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
  type = map(object({ instance_type = string, zone = string }))
}

variable "vpc_id" {
  type = string
}

variable "subnet_id" {
  type = string
}

output "instances" {
  value = {}
}
