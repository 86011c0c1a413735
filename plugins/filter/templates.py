# -*- coding: utf-8 -*-
# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filter of the templates role: the volume id each item ended up as."""

from __future__ import annotations


def template_key(item):
    """How an item of templates_items is named in templates_volumes: name, else appliance, file name, URL or src."""
    for key in ('name', 'appliance', 'filename'):
        if item.get(key):
            return str(item[key])
    source = str(item.get('url') or item.get('src') or '')
    return source.rstrip('/').rsplit('/', 1)[-1] or source


def template_volumes(results, loop_var='templates_item'):
    """{item key: volid} from the loop results of pve.cloud.template (the first node's volume; None if absent)."""
    volumes = {}
    for result in results or []:
        item = result.get(loop_var) or {}
        volids = [v.get('volid') for v in result.get('volumes') or [] if v.get('volid')]
        volumes[template_key(item)] = volids[0] if volids else None
    return volumes


class FilterModule(object):
    def filters(self):
        return dict(template_volumes=template_volumes)
