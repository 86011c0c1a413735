#!/usr/bin/env bash
# pve.cloud.backup, backup_info and restore against a private pvesim (time scale 0): vzdump of a VM and a
# container, reuse of a recent backup, listing per guest, restore to a new VMID and over the stopped original;
# check and diff mode, idempotence with zero writes in pvesim's request log, bad input before any write.
set -eu
source ../setup_pvesim/pvesim-env.sh
ansible-playbook main.yml "$@"
