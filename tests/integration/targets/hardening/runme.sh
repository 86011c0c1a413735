#!/usr/bin/env bash
# Hardening against a private pvesim (time scale 0): proxy errors and dropped connections on logins and
# writes (outcomes read from pvesim's state and request log), malformed input refused before any write.
set -eu
source ../setup_pvesim/pvesim-env.sh
ansible-playbook -i localhost, main.yml "$@"
