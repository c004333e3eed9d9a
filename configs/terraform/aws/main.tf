# Spillway burst module for AWS EC2 GPU instances (docs/terraform.md).
# Spillway sets cluster, pool, burst and instances on every run and reads
# the instances output; the other variables are the team's fixed settings,
# given as the provider's `variables` in spillway.yaml.
terraform {
  required_version = ">= 1.5.0"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
  # State: local by default (one state per burst directory). For a shared
  # backend give Spillway a per-burst key, e.g. backend_config:
  # { key: "spillway/{burst}.tfstate" } with an s3 backend block here.
}

provider "aws" {
  region = var.region
}

resource "aws_instance" "this" {
  for_each = var.instances

  ami                    = var.ami
  instance_type          = each.value.instance_type
  subnet_id              = var.subnets[each.value.zone]
  vpc_security_group_ids = var.security_group_ids
  iam_instance_profile   = var.iam_instance_profile
  key_name               = var.key_name
  user_data_base64       = base64encode(each.value.user_data)

  dynamic "instance_market_options" {
    for_each = each.value.market == "spot" ? [1] : []
    content {
      market_type = "spot"
      spot_options {
        instance_interruption_behavior = "terminate"
        spot_instance_type             = "one-time"
      }
    }
  }

  root_block_device {
    volume_size           = var.root_volume_gb
    volume_type           = "gp3"
    delete_on_termination = true
  }

  metadata_options {
    http_tokens = "required"
  }

  # spillway:burst-key and spillway:key find the instance again when its
  # create was cut off (outputs.tf: cloud_instances).
  tags = merge(each.value.tags, {
    Name                 = "spillway-${var.burst}-${each.key}"
    "spillway:burst-key" = var.burst
    "spillway:key"       = each.key
  })
  volume_tags = each.value.tags

  lifecycle {
    precondition {
      condition     = contains(keys(var.subnets), each.value.zone)
      error_message = "Zone ${each.value.zone} has no subnet in var.subnets (zones with a subnet: ${join(", ", keys(var.subnets))})."
    }
  }
}

# Every instance the cloud holds for this burst, found by its tags rather
# than read from the state: the instance of a create that an apply died in
# (Terraform killed mid-apply) is in no state, and Spillway finds it by
# the cloud_instances output to import and end it. Read by every plan: one
# DescribeInstances for the burst and one per instance it finds.
data "aws_instances" "burst" {
  instance_tags = { "spillway:burst-key" = var.burst }

  filter {
    name   = "instance-state-name"
    values = ["pending", "running", "stopping", "stopped"]
  }
}

data "aws_instance" "burst" {
  for_each    = toset(data.aws_instances.burst.ids)
  instance_id = each.value
}
