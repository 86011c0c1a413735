#!/usr/bin/env bash
# pve.cloud.template_info against a private pvesim with some content (scenario.yml).
set -eu
source ../setup_pvesim/pvesim-env.sh --scenario scenario.yml
ansible-playbook main.yml "$@"
