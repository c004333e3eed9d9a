# A contract-satisfying module whose create is slow (it waits for its
# instance to come up, as a cloud's does) and which finds its instances
# in the cloud, not in its state (output cloud_instances). var.cloud is a
# directory standing for the cloud: creating an instance "launches" it (a
# file named for its id holding its key); then, while the file var.hold
# exists, the create waits, having written Terraform's PID to var.started,
# so that a test can kill Terraform mid-create as the OOM killer would. No
# state records an instance whose create was cut off so.
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
  type = map(object({ zone = string, gpus = number }))
}

variable "cloud" {
  type = string
}

variable "hold" {
  type = string
}

variable "started" {
  type = string
}

variable "blind" {
  description = "Whether cloud_instances sees nothing, as a lagging listing would."
  type        = bool
  default     = false
}

resource "terraform_data" "instance" {
  for_each = var.instances
  input    = { zone = each.value.zone, gpus = each.value.gpus, cloud = var.cloud }

  provisioner "local-exec" {
    command = <<-EOT
      echo "$KEY" > "$CLOUD/$ID"
      echo "$KEY" >> "$CLOUD.creates"
      if [ -f "$HOLD" ]; then echo $PPID > "$STARTED.tmp" && mv "$STARTED.tmp" "$STARTED"; fi
      while [ -f "$HOLD" ]; do sleep 0.05; done
    EOT
    environment = {
      CLOUD   = var.cloud
      KEY     = each.key
      ID      = self.id
      HOLD    = var.hold
      STARTED = var.started
    }
  }

  provisioner "local-exec" {
    when    = destroy
    command = "rm -f \"$CLOUD/$ID\""
    environment = {
      CLOUD = self.input.cloud
      ID    = self.id
    }
  }
}

output "instances" {
  value = { for k, v in terraform_data.instance : k => { id = v.id, zone = v.output.zone, private_ip = "10.0.0.1", gpus = v.output.gpus } }
}

# Every instance the cloud holds for this burst, id => key, as a data
# source filtered by the burst's tags would find them.
output "cloud_instances" {
  value = var.blind ? {} : { for id in fileset(var.cloud, "*") : id => trimspace(file("${var.cloud}/${id}")) }
}
