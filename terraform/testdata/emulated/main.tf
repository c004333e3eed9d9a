# A Spillway burst module made only of Terraform's built-in resources, for
# tests: each instance is a terraform_data whose local-exec provisioners
# launch and terminate it on the EC2 emulator through a helper (the test
# binary, calling the real AWS SDK). The helper writes each instance as the
# output of a small state file, which terraform_remote_state reads back, so
# the instances output reports what the emulator created.
terraform {
  required_version = ">= 1.5.0"
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
  type = map(object({
    instance_type = string
    zone          = string
    market        = string
    gpus          = number
    tags          = map(string)
    user_data     = string
  }))
}

variable "helper" {
  description = "The executable that calls the emulator (the test binary)."
  type        = string
}

variable "endpoint" {
  description = "The EC2 emulator's URL."
  type        = string
}

variable "region" {
  type = string
}

variable "http_timeout" {
  description = "Per-attempt HTTP timeout of the helper's SDK client."
  type        = string
  default     = "5s"
}

resource "terraform_data" "instance" {
  for_each = var.instances

  triggers_replace = [each.value.instance_type, each.value.zone, each.value.market]
  input = {
    helper   = var.helper
    endpoint = var.endpoint
    region   = var.region
    file     = "${path.module}/instances/${each.key}.tfstate"
  }

  provisioner "local-exec" {
    command = "\"$HELPER\" launch"
    environment = {
      SPILLWAY_TF_HELPER = "1"
      HELPER             = var.helper
      ENDPOINT           = var.endpoint
      REGION             = var.region
      HTTP_TIMEOUT       = var.http_timeout
      OUT                = self.input.file
      TOKEN              = "${var.burst}/${each.key}/${each.value.zone}"
      SPEC               = jsonencode(each.value)
    }
  }

  provisioner "local-exec" {
    when    = destroy
    command = "\"$HELPER\" terminate"
    environment = {
      SPILLWAY_TF_HELPER = "1"
      ENDPOINT           = self.input.endpoint
      REGION             = self.input.region
      OUT                = self.input.file
      HELPER             = self.input.helper
    }
  }
}

data "terraform_remote_state" "instance" {
  for_each = terraform_data.instance
  backend  = "local"
  config = {
    path = each.value.output.file
  }
}

output "instances" {
  value = { for k, v in data.terraform_remote_state.instance : k => v.outputs.instance }
}
