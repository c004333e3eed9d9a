# The contract module with its state in S3.
terraform {
  backend "s3" {
    bucket = "example-states"
  }
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
  type = map(object({ instance_type = string, zone = string }))
}

variable "vpc_id" {
  type = string
}

output "instances" {
  value = {}
}
