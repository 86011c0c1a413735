# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Regenerate the config schema tables of a guest kind from PVE's API schema (apidata.json).

    python hacking/gen_schema.py /path/to/pve-apidata.json qemu > plugins/module_utils/qemu_schema.py
    python hacking/gen_schema.py /path/to/pve-apidata.json lxc > plugins/module_utils/lxc_schema.py
"""

from __future__ import annotations

import json
import re
import sys

# Per kind: the parameters of POST /nodes/{node}/<kind> that are not config keys, and the index ranges
# of indexed keys from the option descriptions (the schema only says [n]).
KINDS = dict(
    qemu=dict(
        label='QEMU',
        create_only={'archive', 'bwlimit', 'force', 'live-restore', 'start', 'storage', 'unique', 'ha-managed',
                     'import-working-storage', 'pool', 'node', 'vmid'},
        index_max={'net': 31, 'scsi': 30, 'virtio': 15, 'sata': 5, 'ide': 3, 'ipconfig': 31, 'unused': 255, 'usb': 29,
                   'hostpci': 15, 'serial': 3, 'parallel': 2, 'numa': 7, 'virtiofs': 9},
    ),
    lxc=dict(
        label='LXC',
        # password and ssh-public-keys are creation parameters, never part of the config
        create_only={'bwlimit', 'force', 'ha-managed', 'ignore-unpack-errors', 'ostemplate', 'password', 'pool',
                     'restore', 'ssh-public-keys', 'start', 'storage', 'unique', 'node', 'vmid'},
        index_max={'net': 31, 'mp': 255, 'unused': 255, 'dev': 255},
    ),
)

HEADER = '''# -*- coding: utf-8 -*-
# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""%s config keys and property-string formats, generated from the %s API schema.

Do not edit: regenerate with hacking/gen_schema.py.
KEYS maps a config key (indexed keys as 'net[n]') to (type, enum, format name or None).
FORMATS maps a format name to default_key, keys {name: (type, default, enum)}, aliases {alias: key}
and key_aliases {alias: (key, value key)} (net's `virtio=MAC` sets model=virtio and macaddr=MAC).
CHECKS maps a key (creation parameters such as vmid too) to the limits PVE checks: minimum, maximum,
maxLength, format (a named format) and pattern; `keys` holds those of its property-string sub-keys.
"""

from __future__ import annotations

'''


def pretty(value, indent=0):
    """PEP 8 friendly literal: one item per line, hanging indents of four spaces."""
    pad = ' ' * (indent + 4)
    flat = repr(value)
    if isinstance(value, str) and len(flat) + indent > 100:
        # long patterns: adjacent literals in parentheses, so no line passes the limit
        chunks = [repr(value[i:i + 60]) for i in range(0, len(value), 60)]
        return '(\n' + '\n'.join(pad + c for c in chunks) + '\n' + ' ' * indent + ')'
    if len(flat) + indent < 100 or not isinstance(value, (dict, list, tuple)):
        return flat
    if isinstance(value, dict):
        items = ['%s%r: %s,' % (pad, k, pretty(v, indent + 4)) for k, v in sorted(value.items())]
        return '{\n' + '\n'.join(items) + '\n' + ' ' * indent + '}'
    opening, closing = ('[', ']') if isinstance(value, list) else ('(', ')')
    items = ['%s%s,' % (pad, pretty(v, indent + 4)) for v in value]
    return opening + '\n' + '\n'.join(items) + '\n' + ' ' * indent + closing


def walk(nodes):
    for node in nodes:
        yield node
        yield from walk(node.get('children', []))


def from_typetext(text):
    keys = dict((m, ('string', None, None)) for m in re.findall(r'([a-z][a-z0-9_\-]*)=', text))
    default = re.search(r'\[([a-z][a-z0-9_\-]*)=\]', text)
    return dict(default_key=default.group(1) if default else None, keys=keys, aliases={}, key_aliases={})


LIMITS = ('minimum', 'maximum', 'maxLength', 'format', 'pattern')


def limits(spec):
    """What PVE's check_prop verifies beyond type and enum (a format given as a dict is a property string)."""
    found = {}
    for name in LIMITS:
        value = spec.get(name)
        if value is None or isinstance(value, dict):
            continue
        found[name] = float(value) if name in ('minimum', 'maximum') and spec.get('type') == 'number' else (
            int(value) if name in ('minimum', 'maximum', 'maxLength') else value)
    if isinstance(spec.get('format'), dict):
        subs = dict((sub, limits(sub_spec)) for sub, sub_spec in spec['format'].items() if 'alias' not in sub_spec)
        subs = dict((sub, found_sub) for sub, found_sub in subs.items() if found_sub)
        if subs:
            found['keys'] = subs
    return found


def main(path, kind):
    with open(path) as handle:
        data = json.load(handle)
    table = KINDS[kind]
    props = None
    for node in walk(data):
        if node.get('path') == '/nodes/{node}/%s' % kind:
            props = node['info']['POST']['parameters']['properties']
    keys, formats = {}, {}
    checks = dict((key, limits(prop)) for key, prop in props.items() if limits(prop))
    for key, prop in sorted(props.items()):
        if key in table['create_only']:
            continue
        base = key.replace('[n]', '')
        fmt = prop.get('format')
        fmt_name = None
        if isinstance(fmt, dict):
            fmt_name = base
            entry = dict(default_key=None, keys={}, aliases={}, key_aliases={})
            for sub, spec in sorted(fmt.items()):
                if 'alias' in spec:
                    if 'keyAlias' in spec:
                        entry['key_aliases'][sub] = (spec['keyAlias'], spec['alias'])
                    else:
                        entry['aliases'][sub] = spec['alias']
                    continue
                if spec.get('default_key'):
                    entry['default_key'] = sub
                entry['keys'][sub] = (spec.get('type', 'string'), spec.get('default'), spec.get('enum'))
            formats[fmt_name] = entry
        elif isinstance(fmt, str) and '=' in prop.get('typetext', ''):
            fmt_name = base
            formats[fmt_name] = from_typetext(prop['typetext'])
        keys[key] = (prop.get('type', 'string'), prop.get('enum'), fmt_name)
    version = 'PVE 9'
    out = [HEADER % (table['label'], version) + 'INDEX_MAX = ' + pretty(table['index_max']), '', 'KEYS = ' + pretty(keys), '',
           'FORMATS = ' + pretty(formats), '', 'CHECKS = ' + pretty(checks), '']
    sys.stdout.write('\n'.join(out))


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else 'qemu')
