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
  description = "The Alibaba Cloud region, e.g. cn-hangzhou."
  type        = string
}

variable "vswitches" {
  description = "A vSwitch id per zone Spillway may launch in, e.g. { cn-hangzhou-h = \"vsw-0123\" }."
  type        = map(string)
}

variable "image_id" {
  description = "The image to boot: a GPU image whose user data starts `spillway agent` and joins the on-prem scheduler."
  type        = string
}

variable "security_group_ids" {
  description = "Security groups attached to every instance."
  type        = list(string)
}

variable "ram_role_name" {
  description = "A RAM role for the instances, or null for none."
  type        = string
  default     = null
}

variable "system_disk_gb" {
  description = "Size of the ESSD system disk in GiB."
  type        = number
  default     = 200
}
