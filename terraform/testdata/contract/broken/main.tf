variable "cluster" {
  type = string
