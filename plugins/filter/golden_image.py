# -*- coding: utf-8 -*-
# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters of the golden_image role: which versions of an image are beyond `keep`, who is linked to one, and the
version an appliance carries."""

from __future__ import annotations

import re

from ansible_collections.pve.cloud.plugins.module_utils import golden


def golden_old_versions(guests, current, keep):
    """The versions (pve.cloud.qemu_info or lxc_info entries with config) beyond the `keep` newest; `current` always
    stays."""
    others = sorted((g for g in guests or [] if g['vmid'] != current),
                    key=lambda g: golden.created(g.get('config'), g['vmid']), reverse=True)
    return others[max(int(keep) - 1, 0):]


def linked_to(guests, template_vmid):
    """Names of the guests whose volumes are linked clones of the template (they name base-VMID-disk-N)."""
    base = re.compile(r'(^|[:/])base-%d-disk-' % int(template_vmid))
    return [g.get('name') or str(g['vmid']) for g in guests or []
            if g['vmid'] != int(template_vmid)
            and any(base.search(str(value)) for value in (g.get('config') or {}).values())]


def appliance_version(volid):
    """The version in an appliance's file name, '' when it is not named like PVE's appliances."""
    return golden.appliance_version(volid)


class FilterModule(object):
    def filters(self):
        return dict(golden_old_versions=golden_old_versions, linked_to=linked_to, appliance_version=appliance_version)
