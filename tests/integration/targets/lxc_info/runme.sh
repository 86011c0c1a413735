#!/usr/bin/env bash
# pve.cloud.lxc_info against a private pvesim loaded with a few containers and a VM (scenario.yml).
set -eu
source ../setup_pvesim/pvesim-env.sh --scenario scenario.yml
ansible-playbook main.yml "$@"
