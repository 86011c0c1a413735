#!/usr/bin/env bash
# migrate: true in pve.cloud.qemu and pve.cloud.lxc against a private pvesim (time scale 0): live, offline,
# restart and HA migrations, preconditions before any write, check mode, idempotence with zero writes.
set -eu
source ../setup_pvesim/pvesim-env.sh
ansible-playbook main.yml "$@"
