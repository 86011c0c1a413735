# -*- coding: utf-8 -*-
# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""PVE's value syntaxes: property strings, disk sizes, tag lists, URL-encoded SSH keys, 0/1 booleans.

Pure functions, shared by every guest module. A format (`fmt`) is a dict as in qemu_schema.FORMATS:
default_key, keys {name: (type, default, enum)}, aliases {alias: key} and key_aliases {alias: (key, value key)}.
"""

from __future__ import annotations

import re

try:
    from urllib.parse import quote, unquote
except ImportError:  # pragma: no cover
    from urllib import quote, unquote  # type: ignore

TRUE_WORDS = frozenset(('1', 'on', 'yes', 'true'))
FALSE_WORDS = frozenset(('0', 'off', 'no', 'false'))
SIZE_RE = re.compile(r'^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*$', re.IGNORECASE)
UNITS = {'': 1, 'K': 1024, 'M': 1024 ** 2, 'G': 1024 ** 3, 'T': 1024 ** 4}
TAG_SPLIT = re.compile(r'[;,\s]+')
TAG_RE = re.compile(r'^[a-z0-9_][a-z0-9_\-+.]*$', re.IGNORECASE)
LIST_SPLIT = re.compile(r'[,;\s]+')


class PropertyStringError(ValueError):
    """A value PVE would reject; the message names the offending part."""


def to_bool(value):
    """PVE's boolean words (and Python bools/ints) as a Python bool; ValueError otherwise."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise ValueError('%r is not a boolean (use 1/0, true/false, on/off or yes/no)' % (value,))


def to_01(value):
    return 1 if to_bool(value) else 0


def normalize_scalar(kind, value, enum=None):
    """A value of schema type `kind` in the form PVE returns it: booleans 0/1, integers int, numbers float."""
    if value is None:
        return None
    if kind == 'boolean':
        return to_01(value)
    if kind == 'integer':
        if isinstance(value, bool):
            raise ValueError('%r is not an integer' % (value,))
        try:
            return int(str(value).strip())
        except ValueError:
            raise ValueError('%r is not an integer' % (value,))
    if kind == 'number':
        try:
            number = float(str(value).strip())
        except ValueError:
            raise ValueError('%r is not a number' % (value,))
        return int(number) if number == int(number) else number
    text = value if isinstance(value, str) else str(value)
    if enum and text not in enum:
        raise ValueError("'%s' is not one of %s" % (text, ', '.join(str(e) for e in enum)))
    return text


def parse(value, fmt=None, what='value'):
    """Parse a property string into a dict (aliases resolved, values normalised when fmt is given).

    Raises PropertyStringError naming `what` and the offending item.
    """
    if isinstance(value, dict):
        return dict(value)
    result = {}
    text = '' if value is None else str(value)
    fmt = fmt or {}
    keys = fmt.get('keys') or {}
    aliases = fmt.get('aliases') or {}
    key_aliases = fmt.get('key_aliases') or {}
    default_key = fmt.get('default_key')
    for item in text.split(','):
        item = item.strip()
        if not item:
            continue
        if '=' in item:
            key, _sep, val = item.partition('=')
            key = key.strip()
        elif default_key and default_key not in result:
            key, val = default_key, item
        else:
            raise PropertyStringError("%s: '%s' has no key (write key=value)" % (what, item))
        if key in key_aliases:
            # net: `virtio=BC:24:11:..` is model=virtio plus macaddr=BC:24:11:..
            model_key, value_key = key_aliases[key]
            if model_key in result:
                raise PropertyStringError('%s: two models given (%s and %s)' % (what, result[model_key], key))
            result[model_key] = key
            key = value_key
        key = aliases.get(key, key)
        if keys and key not in keys:
            raise PropertyStringError("%s: unknown key '%s' (known keys: %s)" % (what, key, ', '.join(sorted(keys))))
        if key in result:
            raise PropertyStringError("%s: key '%s' given twice" % (what, key))
        if key in keys:
            kind, _default, enum = keys[key]
            try:
                val = normalize_scalar(kind, val, enum)
            except ValueError as err:
                raise PropertyStringError("%s: %s: %s" % (what, key, err))
        result[key] = val
    return result


def format_string(values, fmt=None):
    """Print a dict as PVE does: the default key first without `key=`, then the rest alphabetically.

    For net the model and MAC are combined as `virtio=BC:24:11:..`.
    """
    fmt = fmt or {}
    values = dict((k, v) for k, v in values.items() if v is not None)
    parts = []
    default_key = fmt.get('default_key')
    key_alias = next(iter((fmt.get('key_aliases') or {}).values()), None)
    if key_alias and values.get(key_alias[0]) and values.get(key_alias[1]):
        parts.append('%s=%s' % (values.pop(key_alias[0]), values.pop(key_alias[1])))
    elif default_key and default_key in values:
        parts.append(_text(values.pop(default_key)))
    for key in sorted(values):
        parts.append('%s=%s' % (key, _text(values[key])))
    return ','.join(parts)


def _text(value):
    if isinstance(value, bool):
        return '1' if value else '0'
    return str(value)


def parse_size(value, default_unit=''):
    """Bytes in a size such as 32G, 32768M, 0.5T, 10GiB or 1073741824 (no unit: `default_unit`)."""
    if isinstance(value, bool):
        raise PropertyStringError('%r is not a size' % (value,))
    if isinstance(value, (int, float)):
        value = str(value)
    match = SIZE_RE.match(str(value or ''))
    if not match:
        raise PropertyStringError("'%s' is not a size: write a number with an optional unit K, M, G or T, "
                                  "for example 32G" % (value,))
    unit = (match.group(2) or default_unit).upper()
    return int(round(float(match.group(1)) * UNITS[unit]))


def format_size(size):
    """Bytes as PVE prints disk sizes: 32G, 512M, 1536M, 4T."""
    for unit in ('T', 'G', 'M', 'K'):
        if size and size % UNITS[unit] == 0:
            return '%d%s' % (size // UNITS[unit], unit)
    return str(size)


def split_tags(value):
    """Tags as PVE lists them (joined with ';'; older versions and hand edits use ',' or spaces), in order."""
    if value is None:
        return []
    items = value if isinstance(value, (list, tuple)) else [value]
    tags = []
    for item in items:
        for tag in TAG_SPLIT.split(str(item)):
            if tag and tag not in tags:
                tags.append(tag)
    return tags


def parse_tags(value):
    """A tag list (list, or a string separated by `;`, `,` or spaces) as a sorted list without duplicates."""
    tags = split_tags(value)
    for tag in tags:
        if not TAG_RE.match(tag):
            raise PropertyStringError("tag '%s' is not valid: tags use letters, digits and _ - + ." % tag)
    return sorted(tags)


def format_tags(tags):
    return ';'.join(parse_tags(tags))


def split_list(value):
    """A PVE *-list value (`a,b c;d`) or a Python list as a list of strings."""
    if value is None:
        return []
    items = value if isinstance(value, (list, tuple)) else [value]
    result = []
    for item in items:
        result.extend(x for x in LIST_SPLIT.split(str(item)) if x)
    return result


def encode_sshkeys(keys):
    """SSH public keys (a list or one string with a key per line) URL-encoded as PVE stores `sshkeys`."""
    return quote('\n'.join(decode_sshkeys_list(keys)), safe='')


def decode_sshkeys_list(keys):
    if keys is None:
        return []
    if isinstance(keys, (list, tuple)):
        lines = []
        for key in keys:
            lines.extend(str(key).splitlines())
    else:
        lines = str(keys).splitlines()
    return [' '.join(line.split()) for line in lines if line.strip()]


def decode_sshkeys(value):
    """The list of keys in a stored (URL-encoded) `sshkeys` value."""
    if value is None:
        return []
    return decode_sshkeys_list(unquote(str(value)))
