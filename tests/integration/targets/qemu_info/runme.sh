#!/usr/bin/env bash
# pve.cloud.qemu_info against a private pvesim loaded with a small fleet (scenario.yml).
set -eu
source ../setup_pvesim/pvesim-env.sh --scenario scenario.yml
ansible-playbook main.yml "$@"
