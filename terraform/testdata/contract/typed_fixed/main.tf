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

variable "subnets" {
  type = map(string)
}

variable "security_group_ids" {
  type = list(string)
}

variable "disk" {
  type = object({ size_gb = number, kind = optional(string, "gp3") })
}

variable "anything" {
}

output "instances" {
  value = {}
}
