# A contract-satisfying module whose instances output breaks the contract
# in the way var.mode names. Each instance is a file under var.live, made
# on create and removed on destroy, so a test sees what still exists.
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

variable "mode" {
  type = string
}

variable "live" {
  type = string
}

resource "terraform_data" "instance" {
  for_each = var.instances
  input    = { zone = each.value.zone, gpus = each.value.gpus, marker = "${var.live}/${each.key}" }

  provisioner "local-exec" {
    command = "touch '${self.output.marker}'"
  }

  provisioner "local-exec" {
    when    = destroy
    command = "rm -f '${self.output.marker}'"
  }
}

# Mode lose: once the instances exist, the module removes its own local
# state and fails the apply.
resource "terraform_data" "lose" {
  count      = var.mode == "lose" ? 1 : 0
  depends_on = [terraform_data.instance]

  provisioner "local-exec" {
    command = "rm -f terraform.tfstate; exit 1"
  }
}

locals {
  good = { for k, v in terraform_data.instance : k => { id = "tf-${v.id}", zone = v.output.zone, private_ip = "127.0.0.1", gpus = v.output.gpus } }
  outputs = {
    good      = local.good
    dupid     = { for k, v in local.good : k => merge(v, { id = "tf-dup" }) }
    noid      = { for k, v in local.good : k => merge(v, { id = "" }) }
    badgpus   = { for k, v in local.good : k => merge(v, { gpus = -5 }) }
    halfgpus  = { for k, v in local.good : k => merge(v, { gpus = 7.5 }) }
    wronggpus = { for k, v in local.good : k => merge(v, { gpus = 4 }) }
    strgpus   = { for k, v in local.good : k => merge(v, { gpus = "eight" }) }
    extra     = merge(local.good, { stray = { id = "tf-stray", zone = "us-east-1a", private_ip = "127.0.0.1", gpus = 8 } })
    longid    = { for k, v in local.good : k => merge(v, { id = "i-${k}-${join("", [for i in range(300) : "x"])}" }) }
    newlineid = { for k, v in local.good : k => merge(v, { id = "i-${k}\n" }) }
    bidiid    = { for k, v in local.good : k => merge(v, { id = "i-${k}\u202e" }) }
    numid     = { for k, v in local.good : k => merge(v, { id = 12345 }) }
    objid     = { for k, v in local.good : k => merge(v, { id = { arn = "i-${k}" } }) }
    cidr      = { for k, v in local.good : k => merge(v, { private_ip = "10.0.3.17/24" }) }
    zonedip   = { for k, v in local.good : k => merge(v, { private_ip = "fe80::1%${format("%0100000d", 0)}" }) }
    hugestate = { for k, v in local.good : k => merge(v, { state = format("%0800000d", 0) }) }
    stopping  = { for k, v in local.good : k => merge(v, { state = "Stopping" }) }
    stopped   = { for k, v in local.good : k => merge(v, { state = "Stopped" }) }
    awsstop   = { for k, v in local.good : k => merge(v, { state = "stopping" }) }
    asleep    = { for k, v in local.good : k => merge(v, { state = "Hibernating" }) }
    booting   = { for k, v in local.good : k => merge(v, { state = "Starting" }) }
    longzone  = { for k, v in local.good : k => merge(v, { zone = join("", [for i in range(300) : "z"]) }) }
    json      = jsonencode({ for k, v in local.good : k => { id = "i-${k}" } })
    list      = [for k, v in local.good : { id = "i-${k}" }]
    idonly    = { for k, v in local.good : k => "i-${k}" }
    manystray = merge(local.good, { for i in range(1000) : "stray-${i}" => { id = "tf-stray-${i}" } })
    onlyfirst = { for k, v in local.good : k => v if k == try(sort(keys(local.good))[0], "") }
    none      = {}
    lose      = local.good
    huge      = { for k, v in local.good : k => merge(v, { note = format("%01000000d", 0) }) }
    hugeother = local.good
  }
}

output "instances" {
  value = local.outputs[var.mode]
}

# Mode hugeother: another output of 2 MB beside a good instances output
# (the apply's log keeps no line that long).
output "blob" {
  value = var.mode == "hugeother" ? format("%02000000d", 0) : ""
}
