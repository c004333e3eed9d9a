# Set by Spillway on every run (the module contract).

variable "cluster" {
  description = "The Spillway cluster (also in each instance's spillway:cluster tag)."
  type        = string
}

variable "pool" {
  description = "The pool the burst serves."
  type        = string
}

variable "burst" {
  description = "The burst's key: one state per burst."
  type        = string
}

variable "instances" {
  description = "The instances the burst should have, by a key Spillway keeps stable for each instance's life."
  type = map(object({
    instance_type = string
    zone          = string
    market        = string # on-demand or spot
    gpus          = number
    tags          = map(string)
    user_data     = string
  }))
}

# The team's fixed settings (the provider's `variables`).

variable "region" {
  description = "The AWS region, e.g. us-east-1."
  type        = string
}

variable "subnets" {
  description = "A subnet id per availability zone Spillway may launch in, e.g. { us-east-1a = \"subnet-0123\" }."
  type        = map(string)
}

variable "ami" {
  description = "The image to boot: a GPU image whose user data starts `spillway agent` and joins the on-prem scheduler."
  type        = string
}

variable "security_group_ids" {
  description = "Security groups attached to every instance."
  type        = list(string)
}

variable "iam_instance_profile" {
  description = "An instance profile name, or null for none."
  type        = string
  default     = null
}

variable "key_name" {
  description = "An EC2 key pair for SSH, or null for none."
  type        = string
  default     = null
}

variable "root_volume_gb" {
  description = "Size of the root gp3 volume in GiB."
  type        = number
  default     = 200
}
