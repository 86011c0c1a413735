#!/usr/bin/env bash
# pve.cloud.ha against a private pvesim (time scale 0): HA resources in every state, node and resource affinity
# rules; PVE 8.4 HA groups; a node taken offline has its HA guests recovered elsewhere; check and diff mode,
# idempotence with zero writes in pvesim's request log, bad input before any write.
set -eu
source ../setup_pvesim/pvesim-env.sh
ansible-playbook main.yml "$@"
