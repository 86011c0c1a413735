# -*- coding: utf-8 -*-
# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""QEMU specifics: which config keys exist, how each compares, and how disks are planned.

The comparison is semantic: property-string key order, defaults PVE adds, MACs PVE generated,
sizes in any unit, tag order and separators, URL-encoded SSH keys and 0/1 booleans do not count as
differences. Disks are grown, never shrunk, never moved and never recreated.
"""

from __future__ import annotations

import re

from ansible_collections.pve.cloud.plugins.module_utils import propstring as ps
from ansible_collections.pve.cloud.plugins.module_utils.guest import InputError
from ansible_collections.pve.cloud.plugins.module_utils.qemu_schema import FORMATS, INDEX_MAX, KEYS

GiB = 1024 ** 3
DRIVE_RE = re.compile(r'^(ide|sata|scsi|virtio)(\d+)$')
INDEXED_RE = re.compile(r'^([a-z]+)(\d+)$')
NEW_DISK_RE = re.compile(r'^(?:([^/:\s]+):)?(\d+(?:\.\d+)?)$')
CLOUDINIT_RE = re.compile(r'^(?:([^/:\s]+):)?(?:cloudinit|(?:\d+/)?vm-\d+-cloudinit(?:\.\w+)?)$')
# Keys a task never sets through `config`: they have their own meaning or are PVE's bookkeeping.
RESERVED = frozenset(('digest', 'lock', 'template', 'vmid', 'node', 'parent', 'snaptime', 'vmstate', 'meta',
                      'runningmachine', 'runningcpu', 'running-nets-host-mtu'))
# Sub-keys PVE fills in itself, so their absence from the task is not a difference.
GENERATED = dict(net=frozenset(('macaddr',)), efidisk0=frozenset(('file', 'size', 'ms-cert')),
                 tpmstate0=frozenset(('file', 'size')))
CLOUDINIT_KEYS = re.compile(r'^(ciuser|cipassword|citype|ciupgrade|cicustom|sshkeys|nameserver|searchdomain|'
                            r'ipconfig\d+)$')
SPECIAL_DISKS = ('efidisk0', 'tpmstate0')


# Keys holding lists, and how a value (list or PVE's string) becomes a comparable list.
LIST_KEYS = dict(tags=ps.parse_tags, sshkeys=ps.decode_sshkeys_list, nameserver=ps.split_list,
                 searchdomain=ps.split_list)


def schema_entry(key):
    """(type, enum, format) of a config key, or None when QEMU has no such key."""
    if key in KEYS:
        return KEYS[key]
    match = INDEXED_RE.match(key)
    if match and '%s[n]' % match.group(1) in KEYS:
        if int(match.group(2)) <= INDEX_MAX.get(match.group(1), 31):
            return KEYS['%s[n]' % match.group(1)]
    return None


def key_format(key):
    entry = schema_entry(key)
    return FORMATS.get(entry[2]) if entry and entry[2] else None


def check_key(key, param):
    if key in RESERVED:
        raise InputError(param, "'%s' cannot be set here (it is managed by PVE or by another option such as state)"
                         % key)
    if schema_entry(key) is None:
        raise InputError(param, "'%s' is not a QEMU config key: check the spelling against 'qm config' / the PVE "
                                "API (indexed keys such as net0 or scsi1 need their number)" % key)


def _propstring_dict(key, value, param):
    """A property-string value (string, dict, bool or int) as a normalised dict."""
    fmt = key_format(key)
    what = '%s.%s' % (param, key) if param != key else key
    if isinstance(value, dict):
        keys = fmt.get('keys') or {}
        text = []
        for sub, val in value.items():
            if val is None:
                continue
            sub = sub if sub in keys or sub in (fmt.get('aliases') or {}) else sub.replace('_', '-')
            if isinstance(val, bool):
                val = int(val)
            if isinstance(val, (list, tuple)):
                val = ';'.join(str(x) for x in val)
            text.append('%s=%s' % (sub, val))
        value = ','.join(text)
    elif isinstance(value, bool):
        value = int(value)
    try:
        return ps.parse(value, fmt, what)
    except ps.PropertyStringError as err:
        raise InputError(param, str(err))


def normalize(key, value, param):
    """The desired value of a non-disk key in comparable form (dict for property strings)."""
    if value is None:
        return None
    if key in LIST_KEYS:
        # an empty list means "none": the key is removed
        try:
            return LIST_KEYS[key](value) or None
        except ps.PropertyStringError as err:
            raise InputError(param, str(err))
    if key_format(key) is not None:
        return _propstring_dict(key, value, param)
    kind, enum, _fmt = schema_entry(key)
    try:
        return ps.normalize_scalar(kind, value, enum)
    except ValueError as err:
        raise InputError(param, '%s: %s' % (key, err))


def _current(key, have):
    """A current config value in the same comparable form as normalize()."""
    if key == 'tags':
        return ps.parse_tags(have)
    if key == 'sshkeys':
        return ps.decode_sshkeys(have)
    if key in ('nameserver', 'searchdomain'):
        return ps.split_list(have)
    fmt = key_format(key)
    if fmt is not None:
        return ps.parse(have, dict(fmt, keys={}))  # what PVE stored is valid; do not re-validate
    kind, _enum, _fmt = schema_entry(key) or ('string', None, None)
    try:
        return ps.normalize_scalar(kind, have)
    except ValueError:
        return have


def _default(fmt, sub):
    kind, default, enum = (fmt.get('keys') or {}).get(sub, ('string', None, None))
    if default is None:
        return 0 if kind == 'boolean' else None
    try:
        return ps.normalize_scalar(kind, default)
    except ValueError:
        return default


def same_props(fmt, have, want, generated=()):
    """Property strings equal for PVE: defaults and generated sub-keys do not count."""
    keys = fmt.get('keys') or {}
    for sub in set(have) | set(want):
        if sub in want:
            value = have.get(sub, _default(fmt, sub))
            kind = keys.get(sub, ('string',))[0]
            if kind in ('boolean', 'integer', 'number') and value is not None:
                try:
                    value = ps.normalize_scalar(kind, value)
                except ValueError:
                    pass
            if value != want[sub]:
                return False
        elif sub not in generated and have[sub] != _default(fmt, sub):
            try:
                if ps.normalize_scalar(keys.get(sub, ('string',))[0], have[sub]) == _default(fmt, sub):
                    continue
            except ValueError:
                pass
            return False
    return True


def same(key, have, want):
    """Whether the current value `have` (as PVE returns it) satisfies the desired value `want`."""
    if key == 'cipassword':
        # PVE returns it masked: a password that is set is left alone (it is set on create, or when absent)
        return True
    if key == 'description':
        return str(have).rstrip() == str(want).rstrip()
    current = _current(key, have)
    fmt = key_format(key)
    if fmt is not None and key not in LIST_KEYS:
        return same_props(fmt, current, want, GENERATED.get(INDEXED_RE.sub(r'\1', key), GENERATED.get(key, ())))
    return current == want


def wire(key, want, have=None):
    """The desired value as sent to PVE; property strings keep the sub-keys PVE generated (the MAC)."""
    if want is None:
        return None
    if key == 'tags':
        return ';'.join(want)
    if key == 'sshkeys':
        return ps.encode_sshkeys(want)
    if key in ('nameserver', 'searchdomain'):
        return ' '.join(want)
    fmt = key_format(key)
    if fmt is not None and isinstance(want, dict):
        merged = dict(want)
        if have is not None:
            current = _current(key, have)
            for sub in GENERATED.get(INDEXED_RE.sub(r'\1', key), ()):
                if sub in current and sub not in merged and sub != 'file':
                    merged[sub] = current[sub]
        return ps.format_string(merged, fmt)
    return want


class Disk(object):
    """A desired drive: a new volume (storage + size), an import, an existing volume (ISO, `none`),
    or a cloud-init drive; plus its options."""

    def __init__(self, slot, storage=None, size=None, import_from=None, file=None, cloudinit=False, options=None):
        self.slot = slot
        self.storage = storage
        self.size = size
        self.import_from = import_from
        self.file = file
        self.cloudinit = cloudinit
        self.options = options or {}

    def create_value(self, param):
        """The value that makes PVE allocate this drive (STORAGE:SIZE_GiB, STORAGE:0,import-from=...)."""
        fmt = key_format(self.slot)
        values = dict(self.options)
        if self.cloudinit:
            values['file'] = '%s:cloudinit' % self.storage
        elif self.import_from:
            values['file'] = '%s:0' % self.storage
            values['import-from'] = self.import_from
        elif self.file:
            values['file'] = self.file
        elif self.slot in SPECIAL_DISKS and self.storage:
            values['file'] = '%s:1' % self.storage  # PVE picks the size of EFI vars and TPM state itself
        else:
            if not (self.storage and self.size):
                raise InputError(param, '%s does not exist yet: give storage and size for a new disk (for example '
                                        '{storage: local-lvm, size: 32G}) or import_from' % self.slot)
            gib = self.size / float(GiB)
            values['file'] = '%s:%s' % (self.storage, ('%d' % gib) if gib == int(gib) else ('%.3f' % gib).rstrip('0'))
        return ps.format_string(values, fmt)


def parse_disk(slot, value, param):
    """A `disks` (or efidisk0/tpmstate0) entry, a raw property string or a dict, as a Disk."""
    fmt = key_format(slot)
    if fmt is None:
        raise InputError(param, "'%s' is not a drive slot: use ide0-3, sata0-5, scsi0-30, virtio0-15" % slot)
    what = '%s.%s' % (param, slot) if param != slot else slot
    if isinstance(value, dict):
        value = dict(value)
        storage = value.pop('storage', None)
        size = value.pop('size', None)
        import_from = value.pop('import_from', value.pop('import-from', None))
        file = value.pop('file', value.pop('volume', None))
        if 'discard' in value and isinstance(value['discard'], bool):
            value['discard'] = 'on' if value['discard'] else 'ignore'
        options = _propstring_dict(slot, value, param) if value else {}
    else:
        options = _propstring_dict(slot, value, param)
        file = options.pop('file', None)
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
    if import_from and not storage:
        raise InputError(param, '%s: import_from needs a storage for the new disk' % what)
    if size is not None and size <= 0:
        raise InputError(param, '%s: size must be larger than 0' % what)
    return Disk(slot, storage=storage, size=size, import_from=import_from, file=file, cloudinit=cloudinit,
                options=options)


def drive_volume(key, value):
    """The volume id of a drive key's value (None for other keys, an empty drive, a CD-ROM drive 'cdrom')."""
    if not (DRIVE_RE.match(key) or key in SPECIAL_DISKS) or not isinstance(value, str):
        return None
    volume = ps.parse(value, dict(default_key='file')).get('file')
    return None if volume in (None, '', 'none', 'cdrom') else volume


def volume_storage(volume):
    return volume.split(':', 1)[0] if volume and ':' in volume else None


def is_cloudinit(value):
    file = ps.parse(value, dict(default_key='file')).get('file', '')
    return bool(CLOUDINIT_RE.match(file)) and 'cloudinit' in file


def plan_disk(disk, have, param):
    """Compare a desired Disk with the current drive string.

    Returns (new value or None, grow-to size in bytes or None). Raises InputError for a shrink or a
    change of storage, before anything is written.
    """
    fmt = key_format(disk.slot)
    what = '%s.%s' % (param, disk.slot)
    if have is None:
        return disk.create_value(param), (disk.size if disk.import_from and disk.size else None)
    current = ps.parse(have, dict(fmt, keys={}))
    volume = current.get('file', '')
    if disk.cloudinit:
        if not is_cloudinit(have):
            raise InputError(param, "%s holds %s, not a cloud-init drive: remove it first (set it to null) or pick "
                                    "another slot" % (what, volume))
        return None, None
    if disk.file is not None and disk.file != volume:
        # an ISO or another existing volume: swapping it is a plain config change
        values = dict(disk.options, file=disk.file)
        return ps.format_string(values, fmt), None
    if disk.storage and volume_storage(volume) and disk.storage != volume_storage(volume) \
            and not disk.import_from:
        raise InputError(param, '%s is on storage %s, not %s: this module never moves or recreates disks (move it '
                                'with qm disk move, or use another slot)'
                         % (what, volume_storage(volume), disk.storage))
    grow = None
    if disk.size is not None and current.get('size'):
        have_size = ps.parse_size(current['size'])
        if disk.size < have_size:
            raise InputError(param, '%s is %s and cannot shrink to %s: PVE does not shrink disks; keep size at %s or '
                                    'more' % (what, ps.format_size(have_size), ps.format_size(disk.size),
                                              ps.format_size(have_size)))
        if disk.size > have_size:
            grow = disk.size
    # Drive options the task does not mention are kept (templates set them); mentioned ones must match.
    options = dict((k, v) for k, v in current.items() if k not in ('file', 'size', 'import-from'))
    differs = [sub for sub in disk.options
               if not same_props(fmt, dict((k, options[k]) for k in (sub,) if k in options), {sub: disk.options[sub]})]
    if not differs:
        return None, grow
    values = dict(options)
    values.update(disk.options)
    values['file'] = volume
    if current.get('size'):
        values['size'] = current['size']
    return ps.format_string(values, fmt), grow
