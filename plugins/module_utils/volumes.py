# -*- coding: utf-8 -*-
# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Volumes of any guest kind (QEMU drives, LXC rootfs and mount points), planned one way: created as
STORAGE:SIZE, grown with the resize call, never shrunk, never moved and never recreated.

The volume sub-key is the format's default key (`file` for QEMU drives, `volume` for LXC).
"""

from __future__ import annotations

import re

from ansible_collections.pve.cloud.plugins.module_utils import propstring as ps
from ansible_collections.pve.cloud.plugins.module_utils.base import InputError
from ansible_collections.pve.cloud.plugins.module_utils.compare import same_props

GiB = 1024 ** 3
NEW_DISK_RE = re.compile(r'^(?:([^/:\s]+):)?(\d+(?:\.\d+)?)$')
CLOUDINIT_RE = re.compile(r'^(?:([^/:\s]+):)?(?:cloudinit|(?:\d+/)?vm-\d+-cloudinit(?:\.\w+)?)$')


class Volume(object):
    """A desired volume: a new one (storage + size), an import, an existing volume (ISO, `none`, a
    bind-mounted host path), or a cloud-init drive; plus its options.

    `fixed_size`: PVE picks the size itself (EFI vars, TPM state), so STORAGE:1 allocates it.
    """

    def __init__(self, schema, slot, storage=None, size=None, import_from=None, file=None, cloudinit=False,
                 options=None, fixed_size=False):
        self.schema = schema
        self.slot = slot
        self.storage = storage
        self.size = size
        self.import_from = import_from
        self.file = file
        self.cloudinit = cloudinit
        self.options = options or {}
        self.fixed_size = fixed_size

    @property
    def fmt(self):
        return self.schema.key_format(self.slot)

    @property
    def volume_key(self):
        return self.fmt.get('default_key') or 'file'

    def create_value(self, param):
        """The value that makes PVE allocate this volume (STORAGE:SIZE_GiB, STORAGE:0,import-from=...)."""
        values = dict(self.options)
        key = self.volume_key
        if self.cloudinit:
            values[key] = '%s:cloudinit' % self.storage
        elif self.import_from:
            values[key] = '%s:0' % self.storage
            values['import-from'] = self.import_from
        elif self.file:
            values[key] = self.file
        elif self.fixed_size and self.storage:
            values[key] = '%s:1' % self.storage
        else:
            if not (self.storage and self.size):
                raise InputError(param, '%s does not exist yet: give storage and size for a new disk (for example '
                                        '{storage: local-lvm, size: 32G})' % self.slot)
            gib = self.size / float(GiB)
            values[key] = '%s:%s' % (self.storage, ('%d' % gib) if gib == int(gib) else ('%.3f' % gib).rstrip('0'))
        return ps.format_string(values, self.fmt)


def parse_volume(schema, slot, value, param, fixed_size=False):
    """A volume entry, a raw property string or a dict (storage, size, volume/file, options), as a Volume."""
    fmt = schema.key_format(slot)
    what = '%s.%s' % (param, slot) if param != slot else slot
    key = fmt.get('default_key') or 'file'
    if isinstance(value, dict):
        value = dict(value)
        storage = value.pop('storage', None)
        size = value.pop('size', None)
        import_from = value.pop('import_from', value.pop('import-from', None))
        file = value.pop('file', value.pop('volume', None))
        if 'discard' in value and isinstance(value['discard'], bool):
            value['discard'] = 'on' if value['discard'] else 'ignore'
        options = schema.props(slot, value, param) if value else {}
    else:
        options = schema.props(slot, value, param)
        file = options.pop(key, None)
        storage = None
        import_from = options.pop('import-from', None)
        size = options.pop('size', None)
    cloudinit = False
    if file is not None:
        match = NEW_DISK_RE.match(str(file))
        ci_match = CLOUDINIT_RE.match(str(file))
        if match and not str(file).startswith('/'):
            storage = storage or match.group(1)
            if float(match.group(2)) > 0:
                size = size or '%sG' % match.group(2)
            file = None
        elif ci_match and ':' in str(file):
            storage, cloudinit, file = ci_match.group(1), True, None
    if size is not None:
        try:
            size = ps.parse_size(size, default_unit='G')
        except ps.PropertyStringError as err:
            raise InputError(param, '%s: size: %s' % (what, err))
    if import_from and 'import-from' not in (fmt.get('keys') or {}):
        raise InputError(param, '%s: import_from is not supported here' % what)
    if import_from and not storage:
        raise InputError(param, '%s: import_from needs a storage for the new disk' % what)
    if size is not None and size <= 0:
        raise InputError(param, '%s: size must be larger than 0' % what)
    return Volume(schema, slot, storage=storage, size=size, import_from=import_from, file=file, cloudinit=cloudinit,
                  options=options, fixed_size=fixed_size)


def volume_of(schema, key, value):
    """The volume id held by a volume key's value (None for other keys, `none`, `cdrom`, or nothing)."""
    fmt = schema.key_format(key) if schema.entry(key) else None
    if not fmt or not isinstance(value, str) or fmt.get('default_key') not in ('file', 'volume'):
        return None
    volume = ps.parse(value, dict(default_key=fmt['default_key'])).get(fmt['default_key'])
    return None if volume in (None, '', 'none', 'cdrom') else volume


def volume_storage(volume):
    """The storage of a volume id, None for a host path."""
    if not volume or volume.startswith('/') or ':' not in volume:
        return None
    return volume.split(':', 1)[0]


def with_size(schema, key, value, size):
    """A volume value with its size set to `size` bytes (what it will look like after the resize)."""
    fmt = dict(default_key=schema.key_format(key).get('default_key') or 'file')
    values = ps.parse(value, fmt)
    values['size'] = ps.format_size(size)
    return ps.format_string(values, fmt)


def is_cloudinit(value):
    file = ps.parse(value, dict(default_key='file')).get('file', '')
    return bool(CLOUDINIT_RE.match(file)) and 'cloudinit' in file


def plan_volume(disk, have, param, move_hint='move it first'):
    """Compare a desired Volume with the current value.

    Returns (new value or None, grow-to size in bytes or None). Raises InputError for a shrink or a
    change of storage, before anything is written.
    """
    fmt = disk.fmt
    key = disk.volume_key
    what = '%s.%s' % (param, disk.slot) if param != disk.slot else disk.slot
    if have is None:
        return disk.create_value(param), (disk.size if disk.import_from and disk.size else None)
    current = ps.parse(have, dict(fmt, keys={}))
    volume = current.get(key, '')
    if disk.cloudinit:
        if not is_cloudinit(have):
            raise InputError(param, "%s holds %s, not a cloud-init drive: remove it first (set it to null) or pick "
                                    "another slot" % (what, volume))
        return None, None
    if disk.file is not None and disk.file != volume:
        # an ISO, a host path or another existing volume: swapping it is a plain config change
        values = dict(disk.options)
        values[key] = disk.file
        return ps.format_string(values, fmt), None
    if disk.storage and volume_storage(volume) and disk.storage != volume_storage(volume) \
            and not disk.import_from:
        raise InputError(param, '%s is on storage %s, not %s: this module never moves or recreates disks (%s, or use '
                                'another slot)' % (what, volume_storage(volume), disk.storage, move_hint))
    grow = None
    if disk.size is not None and current.get('size'):
        have_size = ps.parse_size(current['size'])
        if disk.size < have_size:
            raise InputError(param, '%s is %s and cannot shrink to %s: PVE does not shrink disks; keep size at %s or '
                                    'more' % (what, ps.format_size(have_size), ps.format_size(disk.size),
                                              ps.format_size(have_size)))
        if disk.size > have_size:
            grow = disk.size
    # Options the task does not mention are kept (templates set them); mentioned ones must match.
    options = dict((k, v) for k, v in current.items() if k not in (key, 'size', 'import-from'))
    differs = [sub for sub in disk.options
               if not same_props(fmt, dict((k, options[k]) for k in (sub,) if k in options), {sub: disk.options[sub]})]
    if not differs:
        return None, grow
    values = dict(options)
    values.update(disk.options)
    values[key] = volume
    if current.get('size'):
        values['size'] = current['size']
    return ps.format_string(values, fmt), grow
