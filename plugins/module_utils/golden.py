# -*- coding: utf-8 -*-
# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Golden image versions, shared by the golden_image role's filters and pve.cloud.placement: when a version was
built (its order among the versions of an image) and the version an appliance carries in its name."""

from __future__ import annotations

import calendar
import re
import time

from ansible_collections.pve.cloud.plugins.module_utils.lxc import template_name

# qemu-server writes the creation time into `meta`
CTIME_RE = re.compile(r'(?:^|,)ctime=(\d+)')
# pve-container has no `meta`: the golden_image role writes the build time into the template's description
BUILT_RE = re.compile(r'\bbuilt (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)')
BUILT_FORMAT = '%Y-%m-%dT%H:%M:%SZ'
# PVE's appliance names: PACKAGE_VERSION_ARCH (debian-13-standard_13.1-1_amd64)
APPLIANCE_RE = re.compile(r'^[^_]+_([^_]+)_[^_]+$')


def built_at(config):
    """Seconds since the epoch when the version with this config was built; 0 when it does not say."""
    config = config or {}
    match = CTIME_RE.search(str(config.get('meta') or ''))
    if match:
        return int(match.group(1))
    match = BUILT_RE.search(str(config.get('description') or ''))
    if match:
        return calendar.timegm(time.strptime(match.group(1), BUILT_FORMAT))
    return 0


def created(config, vmid):
    """Sort key of a version: when it was built, then its VMID (never the VMID alone: PVE reuses free VMIDs)."""
    return (built_at(config), int(vmid))


def appliance_version(volid):
    """The version in an appliance's name ('13.1-1' of local:vztmpl/debian-13-standard_13.1-1_amd64.tar.zst); ''
    for a file not named like PVE's appliances."""
    match = APPLIANCE_RE.match(template_name(volid or ''))
    return match.group(1) if match else ''
