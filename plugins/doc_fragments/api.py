# -*- coding: utf-8 -*-
# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment(object):

    DOCUMENTATION = r'''
options:
  api_host:
    description:
      - Name or address of a Proxmox VE node that serves the API (any node of the cluster).
      - May also be a URL, C(https://pve1.example.com:8006); its port is then used, and an O(api_port) other than
        the default that disagrees with it is an error.
      - If not set, the value of the E(PROXMOX_HOST) environment variable is used. One of the two is required.
    type: str
  api_port:
    description:
      - Port of the API, 1 to 65535.
      - If not set, the value of the E(PROXMOX_PORT) environment variable is used.
    type: int
    default: 8006
  api_user:
    description:
      - User to log in as, in the form C(user@realm), for example V(root@pam).
      - Required with O(api_password), and with O(api_token_id) when the token id has no user part.
      - If not set, the value of the E(PROXMOX_USER) environment variable is used.
    type: str
  api_password:
    description:
      - Password of O(api_user); a ticket is requested with it.
      - Mutually exclusive with O(api_token_id) and O(api_token_secret).
      - If not set, the value of the E(PROXMOX_PASSWORD) environment variable is used.
    type: str
  api_otp:
    description:
      - One-time password (TOTP) for users with two-factor authentication, together with O(api_password).
      - If not set, the value of the E(PROXMOX_OTP) environment variable is used.
    type: str
  api_token_id:
    description:
      - API token id, either the full C(user@realm!tokenid) or only C(tokenid) together with O(api_user).
      - If not set, the value of the E(PROXMOX_TOKEN_ID) environment variable is used.
    type: str
  api_token_secret:
    description:
      - Secret (UUID) of the API token O(api_token_id).
      - If not set, the value of the E(PROXMOX_TOKEN_SECRET) environment variable is used.
    type: str
  validate_certs:
    description:
      - Verify the TLS certificate of the API. Keep it on; use O(ca_path) for a private CA.
      - If not set, the value of the E(PROXMOX_VALIDATE_CERTS) environment variable is used.
    type: bool
    default: true
  ca_path:
    description:
      - PEM file with the CA certificate(s) that signed the API's certificate, for example the cluster's
        C(/etc/pve/pve-root-ca.pem).
      - Takes precedence over E(REQUESTS_CA_BUNDLE).
      - If not set, the value of the E(PROXMOX_CA_PATH) environment variable is used.
    type: path
  api_timeout:
    description:
      - Seconds to wait for the answer to one HTTP request (not for a task; tasks have their own timeouts); more
        than 0.
      - If not set, the value of the E(PROXMOX_API_TIMEOUT) environment variable is used.
    type: int
    default: 30
requirements:
  - proxmoxer >= 2.0
  - requests
notes:
  - Reads are retried with exponential back-off on connection errors, HTTP 502/503/504/595 and PVE lock-file
    timeouts. Writes are never resent blindly.
  - At C(-vvv) every API call (method, path, status, duration) is logged on the target's log.
'''

    ACTIONGROUPS = r'''
attributes:
  action_group:
    description: Use C(group/pve.cloud.proxmox) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - pve.cloud.proxmox
'''
