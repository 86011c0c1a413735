# -*- coding: utf-8 -*-
# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Config comparison declared as data: one Schema per guest kind, built from the generated schema
table of that kind (qemu_schema.py, lxc_schema.py) plus a short table of what PVE does to values.

The comparison is semantic: property-string key order, defaults PVE adds, sub-keys PVE generates
(MAC addresses), tag order and separators, URL-encoded SSH keys and 0/1 booleans do not count as
differences; a sub-key the task leaves out of a property string (a dropped `firewall=1`) does.
"""

from __future__ import annotations

import re

from ansible_collections.pve.cloud.plugins.module_utils import propstring as ps
from ansible_collections.pve.cloud.plugins.module_utils.base import InputError

INDEXED_RE = re.compile(r'^([a-z]+)(\d+)$')

# How a list-valued key is read (from a list or PVE's string) and written back.
LIST_CODECS = dict(
    tags=(ps.parse_tags, ';'.join),
    sshkeys=(ps.decode_sshkeys_list, ps.encode_sshkeys),
    words=(ps.split_list, ' '.join),
)
# How PVE reads a stored value of a list-valued key, when that differs from reading the task's list.
STORED_READERS = dict(sshkeys=ps.decode_sshkeys)


class Schema(object):
    """The config keys of one guest kind and how PVE compares their values.

    keys, formats, index_max: the generated tables. rules (all optional):
      lists      {key: codec name in LIST_CODECS}  list-valued keys
      generated  {key or indexed prefix: sub-keys}  sub-keys PVE fills in itself (kept when writing)
      text       keys compared without trailing white space
      write_only keys PVE returns masked: set when absent, never compared
      reserved   keys a task never sets through `config`
    checks: the generated CHECKS table (limits and formats, read by validate.py).
    """

    def __init__(self, label, keys, formats, index_max, lists=None, generated=None, text=(), write_only=(),
                 reserved=(), checks=None):
        self.label = label
        self.keys = keys
        self.formats = formats
        self.index_max = index_max
        self.lists = dict(lists or {})
        self.generated = dict(generated or {})
        self.text = frozenset(text)
        self.write_only = frozenset(write_only)
        self.reserved = frozenset(reserved)
        self.checks = checks or {}

    # -- the tables ----------------------------------------------------------------------------

    def entry(self, key):
        """(type, enum, format) of a config key, or None when the kind has no such key."""
        if key in self.keys:
            return self.keys[key]
        match = INDEXED_RE.match(key)
        if match and '%s[n]' % match.group(1) in self.keys:
            if int(match.group(2)) <= self.index_max.get(match.group(1), 31):
                return self.keys['%s[n]' % match.group(1)]
        return None

    def key_format(self, key):
        entry = self.entry(key)
        return self.formats.get(entry[2]) if entry and entry[2] else None

    def generated_subkeys(self, key):
        return self.generated.get(key, self.generated.get(INDEXED_RE.sub(r'\1', key), ()))

    def check_key(self, key, param):
        if key in self.reserved:
            raise InputError(param, "'%s' cannot be set here (it is managed by PVE or by another option such as state)"
                             % key)
        if self.entry(key) is None:
            raise InputError(param, "'%s' is not a %s config key: check the spelling against the PVE API (indexed "
                                    "keys such as net0 need their number)" % (key, self.label))

    # -- desired values ------------------------------------------------------------------------

    def props(self, key, value, param):
        """A property-string value (string, dict, bool or int) as a normalised dict."""
        fmt = self.key_format(key)
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

    def normalize(self, key, value, param):
        """The desired value of a key in comparable form (dict for property strings); None: absent."""
        if value is None:
            return None
        if key in self.lists:
            # an empty list means "none": the key is removed
            try:
                return LIST_CODECS[self.lists[key]][0](value) or None
            except ps.PropertyStringError as err:
                raise InputError(param, str(err))
        if self.key_format(key) is not None:
            return self.props(key, value, param)
        kind, enum, _fmt = self.entry(key)
        try:
            return ps.normalize_scalar(kind, value, enum)
        except ValueError as err:
            raise InputError(param, '%s: %s' % (key, err))

    # -- current values ------------------------------------------------------------------------

    def current(self, key, have):
        """A current config value in the same comparable form as normalize()."""
        if key in self.lists:
            codec = self.lists[key]
            return STORED_READERS.get(codec, LIST_CODECS[codec][0])(have)
        fmt = self.key_format(key)
        if fmt is not None:
            return ps.parse(have, dict(fmt, keys={}))  # what PVE stored is valid; do not re-validate
        kind, _enum, _fmt = self.entry(key) or ('string', None, None)
        try:
            return ps.normalize_scalar(kind, have)
        except ValueError:
            return have

    def same(self, key, have, want):
        """Whether the current value `have` (as PVE returns it) satisfies the desired value `want`."""
        if key in self.write_only:
            return True
        if key in self.text:
            return str(have).rstrip() == str(want).rstrip()
        current = self.current(key, have)
        fmt = self.key_format(key)
        if fmt is not None and key not in self.lists:
            return same_props(fmt, current, want, self.generated_subkeys(key))
        return current == want

    def wire(self, key, want, have=None):
        """The desired value as sent to PVE; property strings keep the sub-keys PVE generated (the MAC)."""
        if want is None:
            return None
        if key in self.lists:
            return LIST_CODECS[self.lists[key]][1](want)
        fmt = self.key_format(key)
        if fmt is not None and isinstance(want, dict):
            merged = dict(want)
            if have is not None:
                current = self.current(key, have)
                for sub in self.generated_subkeys(key):
                    if sub in current and sub not in merged and sub != fmt.get('default_key'):
                        merged[sub] = current[sub]
            return ps.format_string(merged, fmt)
        return want

    def changes(self, current, desired):
        """{key: value to send, or None to delete} for the desired keys whose current value differs."""
        out = {}
        for key, want in desired.items():
            have = current.get(key)
            if want is None:
                if have is not None:
                    out[key] = None
            elif have is None or not self.same(key, have, want):
                out[key] = self.wire(key, want, have)
        return out


def _default(fmt, sub):
    kind, default, _enum = (fmt.get('keys') or {}).get(sub, ('string', None, None))
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
