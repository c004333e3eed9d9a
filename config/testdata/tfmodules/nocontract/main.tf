# Declares one of the contract's variables and no output.
variable "cluster" {
  type = string
}
