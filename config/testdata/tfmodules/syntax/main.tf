variable "cluster" { type = string
