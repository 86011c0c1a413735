# -*- coding: utf-8 -*-
# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters of the golden_image role: which versions of an image are beyond `keep`, and who is linked to one."""

from __future__ import annotations

import re

CTIME_RE = re.compile(r'(?:^|,)ctime=(\d+)')


def created(vm):
    """Sort key of a template: PVE's creation time from `meta`, then the VMID."""
    match = CTIME_RE.search(str((vm.get('config') or {}).get('meta') or ''))
    return (int(match.group(1)) if match else 0, int(vm['vmid']))


def golden_old_versions(vms, current, keep):
    """The versions (pve.cloud.qemu_info entries with config) beyond the `keep` newest; `current` always stays."""
    others = sorted((vm for vm in vms or [] if vm['vmid'] != current), key=created, reverse=True)
    return others[max(int(keep) - 1, 0):]


def linked_to(vms, template_vmid):
    """Names of the guests whose disks are linked clones of the template (their volumes name base-VMID-disk-N)."""
    base = re.compile(r'(^|[:/])base-%d-disk-' % int(template_vmid))
    return [vm.get('name') or str(vm['vmid']) for vm in vms or []
            if vm['vmid'] != int(template_vmid)
            and any(base.search(str(value)) for value in (vm.get('config') or {}).values())]


class FilterModule(object):
    def filters(self):
        return dict(golden_old_versions=golden_old_versions, linked_to=linked_to)
