# A Spillway burst module made only of Terraform's built-in resources, for
# tests: each instance is a terraform_data whose local-exec provisioners
# launch and terminate it on the EC2 emulator through a helper (the test
# binary, calling the real AWS SDK). The helper writes each instance as the
# output of a small state file. terraform_remote_state reads it back through
# the test's observer (Terraform's http backend), which answers with the
# instance as the emulator sees it now: so every refresh observes the cloud,
# and an instance ended outside Terraform drops out of the output (drift).
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

variable "observer" {
  description = "URL answering, for ?file=<the helper's state file>, the instance as the cloud sees it now."
  type        = string
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
    file     = "${abspath(path.module)}/instances/${each.key}.tfstate"
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
  backend  = "http"
  config = {
    address = "${var.observer}?file=${urlencode(each.value.output.file)}"
  }
}

output "instances" {
  value = {
    for k, v in data.terraform_remote_state.instance : k => v.outputs.instance
    if !contains(["shutting-down", "terminated"], v.outputs.instance.state)
  }
}
