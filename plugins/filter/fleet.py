# -*- coding: utf-8 -*-
# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters of the fleet role: turn the guest modules' results into inventory entries and a failure list,
and print lists of dicts as aligned tables. They do no I/O."""

from __future__ import annotations

import re

from ansible.errors import AnsibleFilterError

IP_RE = re.compile(r'(?:^|,)ip=([0-9.]+)/')
GROUP_CHARS = re.compile(r'[^A-Za-z0-9_]')


def group_name(text):
    """An inventory group name Ansible accepts without a warning (as the pve.cloud.proxmox inventory makes them)."""
    return GROUP_CHARS.sub('_', str(text))


def static_address(args):
    """The static address of a guest's arguments (a VM's ipconfig0, a container's net0 ip=...), or None."""
    args = args or {}
    ipconfig = args.get('ipconfig') or {}
    value = ipconfig.get('ipconfig0', ipconfig.get('0', ipconfig.get(0)))
    if value is None and 'hostname' in args:
        value = (args.get('networks') or {}).get('net0')
    if isinstance(value, dict):
        value = 'ip=%s' % value.get('ip', '')
    match = IP_RE.search(str(value or ''))
    return match.group(1) if match else None


def failed(result):
    # async_status answers finished=0 when the job never finished; a module failure carries msg
    return not result.get('finished', 1) or result.get('failed') or 'msg' in result


def failure_row(result, guest):
    failure = result.get('failure') or {}
    actions = result.get('actions') or []
    step = actions[-1].get('action') if actions else ('timeout' if not result.get('finished', 1) else 'lookup')
    message = failure.get('pve_message') or result.get('msg') or 'no answer from the job (timed out)'
    return dict(guest=guest['name'], node=result.get('node') or guest.get('node'), step=step,
                message=' '.join(str(message).split()))


def fleet_results(results, plan, fleet, loop_var='fleet_job', guest_var='fleet_guest'):
    """Split the async_status results of the fleet role into guests (for add_host) and failures.

    `results` are async_status loop results, each holding the launch result under `loop_var` and the planned guest
    under `loop_var.guest_var`; `plan` is the pve.cloud.placement result.
    """
    if not isinstance(plan, dict):
        raise AnsibleFilterError('fleet_results: the plan must be the result of pve.cloud.placement')
    guests, failures = [], list(plan.get('failures') or [])
    tag = plan.get('tag')
    for result in results or []:
        guest = (result.get(loop_var) or {}).get(guest_var)
        if guest is None:
            raise AnsibleFilterError('fleet_results: result without %s.%s' % (loop_var, guest_var))
        if failed(result):
            failures.append(failure_row(result, guest))
            continue
        tags = [t for t in guest['args'].get('tags') or [] if t != tag]
        addresses = result.get('ip_addresses') or []
        guests.append(dict(
            name=guest['name'], group=guest['group'], kind=guest['kind'], vmid=result.get('vmid'),
            node=result.get('node') or guest['node'], status=result.get('status'), changed=bool(result.get('changed')),
            address=addresses[0] if addresses else static_address(guest['args']), ip_addresses=addresses, tags=tags,
            groups=[group_name(fleet), group_name(guest['group'])] + ['proxmox_tag_%s' % group_name(t) for t in tags]))
    return dict(guests=guests, failures=failures)


def removal_failures(results, loop_var='fleet_job', item_var='fleet_removal'):
    """Failure rows of the removal jobs (the same shape as fleet_results' failures)."""
    rows = []
    for result in results or []:
        item = (result.get(loop_var) or {}).get(item_var)
        if item is not None and failed(result):
            rows.append(failure_row(result, item))
    return rows


def cluster_summary(vms, fleet_tags, hostvars=None):
    """Rows of `what exists where` from pve.cloud.qemu_info entries: golden images, then the guests of the fleets.

    The address is the one the fleet role gave the host (`ansible_host` in `hostvars`), when there is one.
    """
    rows = []
    fleet_tags = list(fleet_tags or [])
    for vm in sorted(vms or [], key=lambda vm: vm['vmid']):
        tags = vm.get('tags') or []
        if vm.get('template') and 'golden' in tags:
            what = 'golden image'
        else:
            fleets = [t[len('fleet-'):] for t in fleet_tags if t in tags]
            if not fleets or vm.get('template'):
                continue
            what = 'fleet %s' % fleets[0]
        address = None
        if hostvars is not None and vm.get('name') in hostvars:
            address = hostvars[vm['name']].get('ansible_host')
        rows.append(dict(name=vm.get('name'), what=what, node=vm.get('node'), vmid=vm['vmid'],
                         status='template' if vm.get('template') else vm.get('status'), address=address))
    golden = [r for r in rows if r['what'] == 'golden image']
    return golden + [r for r in rows if r['what'] != 'golden image']


def table(rows, columns=None):
    """Rows (dicts) as lines of an aligned text table with a header, for debug output."""
    rows = list(rows or [])
    if columns is None:
        columns = list(rows[0]) if rows else []
    cells = [[str(c) for c in columns]]
    for row in rows:
        if not isinstance(row, dict):
            raise AnsibleFilterError('table: rows must be dicts, not %s' % type(row).__name__)
        cells.append(['-' if row.get(c) in (None, '', []) else
                      (', '.join(str(x) for x in row[c]) if isinstance(row.get(c), list) else str(row[c]))
                      for c in columns])
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    lines = ['  '.join(value.ljust(widths[i]) for i, value in enumerate(line)).rstrip() for line in cells]
    lines.insert(1, '  '.join('-' * w for w in widths))
    return lines


class FilterModule(object):
    def filters(self):
        return dict(fleet_results=fleet_results, removal_failures=removal_failures, cluster_summary=cluster_summary,
                    table=table)
