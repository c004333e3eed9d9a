# Spillway burst module for Alibaba Cloud ECS GPU instances
# (docs/terraform.md). Spillway sets cluster, pool, burst and instances on
# every run and reads the instances output; the other variables are the
# team's fixed settings, given as the provider's `variables` in
# spillway.yaml.
terraform {
  required_version = ">= 1.5.0"
  required_providers {
    alicloud = {
      source  = "aliyun/alicloud"
      version = ">= 1.200.0"
    }
  }
  # State: local by default (one state per burst directory). For a shared
  # backend give Spillway a per-burst key, e.g. backend_config:
  # { key: "spillway/{burst}.tfstate" } with an oss backend block here.
}

provider "alicloud" {
  region = var.region
}

resource "alicloud_instance" "this" {
  for_each = var.instances

  availability_zone          = each.value.zone
  instance_type              = each.value.instance_type
  image_id                   = var.image_id
  vswitch_id                 = var.vswitches[each.value.zone]
  security_groups            = var.security_group_ids
  instance_charge_type       = "PostPaid"
  spot_strategy              = each.value.market == "spot" ? "SpotAsPriceGo" : "NoSpot"
  internet_max_bandwidth_out = 0
  system_disk_category       = "cloud_essd"
  system_disk_size           = var.system_disk_gb
  user_data                  = base64encode(each.value.user_data)
  instance_name              = "spillway-${var.burst}-${each.key}"
  role_name                  = var.ram_role_name
  # spillway:burst-key and spillway:key find the instance again when its
  # create was cut off (outputs.tf: cloud_instances).
  tags = merge(each.value.tags, {
    "spillway:burst-key" = var.burst
    "spillway:key"       = each.key
  })

  lifecycle {
    precondition {
      condition     = contains(keys(var.vswitches), each.value.zone)
      error_message = "Zone ${each.value.zone} has no vSwitch in var.vswitches (zones with a vSwitch: ${join(", ", keys(var.vswitches))})."
    }
  }
}

# Every instance the cloud holds for this burst, found by its tags rather
# than read from the state: the instance of a create that an apply died in
# (Terraform killed mid-apply) is in no state, and Spillway finds it by
# the cloud_instances output to import and end it. Read by every plan (one
# DescribeInstances, paged).
data "alicloud_instances" "burst" {
  tags = { "spillway:burst-key" = var.burst }
}
