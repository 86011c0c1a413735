"""Property strings and named formats, as PVE::JSONSchema parses and prints them.

Shared by the HTTP validator (parameter checks) and the model (disk/net handling).
"""

import ipaddress
import re

NODE_RE = re.compile(r"^[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?$")
VMID_RE = re.compile(r"^[1-9][0-9]{2,8}$")
STORAGE_ID_RE = re.compile(r"^[a-z][a-z0-9\-_.]*[a-z0-9]$", re.I)
CONFIGID_RE = re.compile(r"^[a-z][a-z0-9_-]+$", re.I)
DNS_RE = re.compile(r"^(([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?)\.)*([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?)$")
MAC_RE = re.compile(r"^[a-f0-9][02468ace](?::[a-f0-9]{2}){5}$", re.I)
VOLID_RE = re.compile(r"^([a-z][a-z0-9\-_.]*[a-z0-9]):(.+)$", re.I)
DISK_SIZE_RE = re.compile(r"^(\d+(\.\d+)?)([KMGT](?:iB)?)?$")
URLENC_RE = re.compile(r"^[-%a-zA-Z0-9_.!~*'()]*$")
TAG_RE = re.compile(r"^[a-z0-9_][a-z0-9_\-+.]*$", re.I)
BRIDGE_RE = re.compile(r"^[-_.\w\d]+$")
USERID_RE = re.compile(r"^[^\s:/]+@[A-Za-z][A-Za-z0-9.\-_]+$")
TOKENNAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9.\-_]+$")
REALM_RE = re.compile(r"^[A-Za-z][A-Za-z0-9.\-_]+$")
ROLEID_RE = re.compile(r"^[A-Za-z0-9.\-_]+$")
PRIV_RE = re.compile(r"^[A-Za-z.]+$")
LIST_SPLIT_RE = re.compile(r"[,;\s\0]+")

FORMAT_ERROR = "invalid format - "


class FormatError(ValueError):
    """A value does not match its format; str() is the text after 'invalid format - '."""


def split_list(value):
    return [v for v in LIST_SPLIT_RE.split(str(value)) if v != ""]


def _ip_cidr(value, version, allow=()):
    if value in allow:
        return
    try:
        net = ipaddress.ip_interface(value)
    except ValueError:
        raise FormatError("value does not look like a valid CIDR network")
    if net.version != version or "/" not in value:
        raise FormatError("value does not look like a valid CIDR network")
    if version == 4 and not 8 <= net.network.prefixlen <= 32:
        raise FormatError("value does not look like a valid CIDR network")


def _ipconfig(value):
    fmt = {
        "ip": {"type": "string", "optional": 1, "format": "pve-ipv4-config"},
        "gw": {"type": "string", "optional": 1, "format": "ipv4"},
        "ip6": {"type": "string", "optional": 1, "format": "pve-ipv6-config"},
        "gw6": {"type": "string", "optional": 1, "format": "ipv6"},
    }
    parse(fmt, value)


def _ipv4_config(v):
    _ip_cidr(v, 4, ("dhcp", "manual"))


def _ipv6_config(v):
    _ip_cidr(v, 6, ("dhcp", "manual", "auto"))


def _ip(v, version=None):
    try:
        addr = ipaddress.ip_address(v)
    except ValueError:
        raise FormatError("value does not look like a valid IP address")
    if version and addr.version != version:
        raise FormatError("value does not look like a valid IP%s address" % ("v4" if version == 4 else "v6"))


def _check(regex, msg):
    def chk(v):
        if not regex.match(str(v)):
            raise FormatError(msg.replace("%s", str(v)))
    return chk


def _storage_id(v):
    if len(v) < 2:
        raise FormatError("storage ID '%s' cannot be shorter than 2 characters" % v)
    if not STORAGE_ID_RE.match(v):
        raise FormatError("storage ID '%s' contains illegal characters" % v)


def _poolid(v):
    parts = v.split("/")
    if len(parts) > 3:
        raise FormatError("pool name '%s' nested too deeply (max levels = 3)" % v)
    for p in parts:
        if not p or not p[0].isalpha():
            raise FormatError("pool name must start with a letter")
        if not re.match(r"^[A-Za-z0-9.\-_]+$", p):
            raise FormatError("pool name '%s' contains invalid characters" % v)


def _tokenid(v):
    if "!" not in v or not USERID_RE.match(v.split("!", 1)[0]) or not TOKENNAME_RE.match(v.split("!", 1)[1]):
        raise FormatError("value '%s' does not look like a valid token ID" % v)


def _volid(v):
    if not VOLID_RE.match(v):
        raise FormatError("unable to parse volume ID '%s'" % v)


def _volid_or_path(v):
    if v in ("none", "cdrom") or v.startswith("/"):
        return
    if re.match(r"^(([^/:\s]+):)?(\d+(\.\d+)?)$", v):
        return
    _volid(v)


def _startup(v):
    parse({"order": {"type": "integer", "optional": 1, "default_key": 1, "minimum": 0},
           "up": {"type": "integer", "optional": 1, "minimum": 0},
           "down": {"type": "integer", "optional": 1, "minimum": 0}}, v)


def _hotplug(v):
    if v in ("0", "1"):
        return
    for f in v.split(","):
        if f not in ("network", "disk", "cpu", "memory", "usb", "cloudinit"):
            raise FormatError("invalid hotplug feature '%s'" % f)


NAMED = {
    "pve-node": _check(NODE_RE, "value does not look like a valid node name"),
    "pve-vmid": _check(VMID_RE, "value does not look like a valid VM ID"),
    "pve-storage-id": _storage_id,
    "pve-configid": _check(CONFIGID_RE, "invalid configuration ID '%s'"),
    "dns-name": _check(DNS_RE, "value does not look like a valid DNS name"),
    "mac-addr": _check(MAC_RE, "value does not look like a valid unicast MAC address"),
    "pve-volume-id": _volid,
    "pve-volume-id-or-qm-path": _volid_or_path,
    "disk-size": _check(DISK_SIZE_RE, "unable to parse size '%s'"),
    "urlencoded": _check(URLENC_RE, "value '%s' is not urlencoded"),
    "pve-tag": _check(TAG_RE, "invalid tag '%s'"),
    "pve-poolid": _poolid,
    "pve-bridge-id": _check(BRIDGE_RE, "invalid bridge ID '%s'"),
    "pve-qm-ipconfig": _ipconfig,
    "pve-ipv4-config": _ipv4_config,
    "pve-ipv6-config": _ipv6_config,
    "ip": _ip,
    "ipv4": lambda v: _ip(v, 4),
    "ipv6": lambda v: _ip(v, 6),
    "pve-userid": _check(USERID_RE, "value '%s' does not look like a valid user name"),
    "pve-tokenid": _tokenid,
    "pve-realm": _check(REALM_RE, "value '%s' does not look like a valid realm"),
    "pve-roleid": _check(ROLEID_RE, "invalid role ID '%s'"),
    "pve-priv": _check(PRIV_RE, "invalid privilege '%s'"),
    "pve-groupid": _check(ROLEID_RE, "invalid group ID '%s'"),
    "pve-startup-order": _startup,
    "pve-hotplug-features": _hotplug,
}

# list formats whose element format is not simply the name without '-list'
LIST_ALIASES = {"pve-tag-list": "pve-tag", "pve-priv-list": "pve-priv"}


def check_named(fmt, value):
    """Raise FormatError if value fails the named format fmt (unknown formats accept anything)."""
    value = str(value)
    if fmt.endswith("-list"):
        base = LIST_ALIASES.get(fmt, fmt[:-5])
        fn = NAMED.get(base)
        if fn:
            for item in split_list(value):
                fn(item)
        return
    fn = NAMED.get(fmt)
    if fn:
        fn(value)


BOOL_TRUE = ("1", "on", "yes", "true")
BOOL_FALSE = ("0", "off", "no", "false")


def check_value(schema, value):
    """Check one scalar against a property schema, returning (coerced, error-or-None).

    Mirrors PVE::JSONSchema::check_prop messages. Property-string values use the relaxed boolean parser.
    """
    typ = schema.get("type", "string")
    raw = value  # named formats see the value as sent (pve-vmid refuses '0100' although it is the integer 100)
    if typ == "boolean":
        if value is True or value is False:
            return int(value), None
        s = str(value)
        if s in ("0", "1"):
            return int(s), None
        return value, "type check ('boolean') failed - got '%s'" % s
    if typ == "integer":
        if isinstance(value, bool) or not re.match(r"^[+-]?\d+$", str(value)):
            return value, "type check ('integer') failed - got '%s'" % value
        value = int(value)
    elif typ == "number":
        if isinstance(value, bool) or not re.match(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$", str(value)):
            return value, "type check ('number') failed - got '%s'" % value
    elif typ == "string":
        if isinstance(value, (dict, list)):
            return value, "type check ('string') failed - got %s" % ("HASH" if isinstance(value, dict) else "ARRAY")
        if not isinstance(value, str):
            value = str(value)
    if typ in ("integer", "number"):
        num = float(value)
        if "minimum" in schema and num < schema["minimum"]:
            return value, "value must have a minimum value of %s" % schema["minimum"]
        if "maximum" in schema and num > schema["maximum"]:
            return value, "value must have a maximum value of %s" % schema["maximum"]
    if typ == "string":
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            return value, "value may only be %s characters long" % schema["maxLength"]
        if "minLength" in schema and len(value) < schema["minLength"]:
            return value, "value must be at least %s characters long" % schema["minLength"]
    if schema.get("enum") and str(value) not in [str(e) for e in schema["enum"]]:
        return value, "value '%s' does not have a value in the enumeration '%s'" % (value, ", ".join(map(str, schema["enum"])))
    if "pattern" in schema and isinstance(value, str):
        pat = schema["pattern"].replace("(?^:", "(?:").replace("(?^i:", "(?i:")
        try:
            ok = re.match("^(?:%s)$" % pat, value)
        except re.error:
            ok = True
        if not ok:
            return value, "value does not match the regex pattern"
    fmt = schema.get("format")
    if fmt is not None:
        try:
            if isinstance(fmt, dict):
                parse(fmt, value)
            else:
                check_named(fmt, str(raw) if typ == "integer" else value)
        except FormatError as exc:
            return value, FORMAT_ERROR + str(exc)
    return value, None


def parse(fmt, text):
    """Parse a property string against an inline format dict.

    Returns a dict of canonical keys (aliases resolved) to string values; raises FormatError.
    """
    res = {}
    default_key = None
    for k, s in fmt.items():
        if isinstance(s, dict) and s.get("default_key"):
            default_key = k
    for part in str(text).split(","):
        if part == "":
            continue
        if "=" in part:
            k, v = part.split("=", 1)
            spec = fmt.get(k)
            if spec is None:
                raise FormatError("invalid key in comma-separated list property: %s" % k)
            if "keyAlias" in spec:
                if spec["keyAlias"] in res:
                    raise FormatError("duplicate key in comma-separated list property: %s" % spec["keyAlias"])
                res[spec["keyAlias"]] = k
                k = spec["alias"]
            elif "alias" in spec:
                k = spec["alias"]
        else:
            if default_key is None:
                raise FormatError("value without key, but schema does not define a default key")
            if default_key in res:
                raise FormatError("duplicate key in comma-separated list property: %s" % default_key)
            k, v = default_key, part
        if k in res:
            raise FormatError("duplicate key in comma-separated list property: %s" % k)
        res[k] = v
    errors = []
    for k, v in res.items():
        spec = fmt.get(k) or {}
        if spec.get("type") == "boolean":
            if v.lower() in BOOL_TRUE:
                res[k] = "1"
            elif v.lower() in BOOL_FALSE:
                res[k] = "0"
            else:
                errors.append("%s: type check ('boolean') failed - got '%s'" % (k, v))
            continue
        if "keyAlias" in spec or "alias" in spec:
            continue
        _, err = check_value(spec, v)
        if err:
            errors.append("%s: %s" % (k, err))
    for k, spec in fmt.items():
        if isinstance(spec, dict) and not spec.get("optional") and "alias" not in spec and "keyAlias" not in spec \
                and k not in res:
            errors.append("%s: property is missing and it is not optional" % k)
    if errors:
        raise FormatError("format error\n" + "\n".join(errors))
    return res


def loose_parse(text, default_key=None):
    """Parse without a schema (for stored config values written by the simulator itself)."""
    res = {}
    for part in str(text).split(","):
        if part == "":
            continue
        if "=" in part:
            k, v = part.split("=", 1)
            res[k] = v
        elif default_key:
            res[default_key] = part
    return res


def render(items, default_key=None, first=()):
    """Print like print_property_string: default key value first, then `first` keys, then the rest sorted."""
    out = []
    if default_key and default_key in items:
        out.append(str(items[default_key]))
    for k in first:
        if k in items and k != default_key:
            out.append("%s=%s" % (k, items[k]))
    for k in sorted(items):
        if k == default_key or k in first:
            continue
        out.append("%s=%s" % (k, items[k]))
    return ",".join(out)


NET_MODELS = ("e1000", "e1000-82540em", "e1000-82544gc", "e1000-82545em", "e1000e", "i82551", "i82557b",
              "i82559er", "ne2k_isa", "ne2k_pci", "pcnet", "rtl8139", "virtio", "vmxnet3")


def parse_qemu_net(text):
    """Parse a stored qemu netN value into a dict with model and macaddr."""
    res = {}
    for part in str(text).split(","):
        if "=" not in part:
            res["model"] = part
            continue
        k, v = part.split("=", 1)
        if k in NET_MODELS:
            res["model"] = k
            res["macaddr"] = v
        else:
            res[k] = v
    return res


def render_qemu_net(d):
    d = dict(d)
    model = d.pop("model", "virtio")
    mac = d.pop("macaddr", None)
    head = "%s=%s" % (model, mac) if mac else model
    rest = render(d)
    return head + ("," + rest if rest else "")


def size_to_bytes(text):
    m = DISK_SIZE_RE.match(str(text))
    if not m:
        raise ValueError(text)
    num = float(m.group(1))
    unit = (m.group(3) or "")[:1]
    mult = {"": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4}[unit]
    return int(num * mult)


def bytes_to_size(n):
    if n == 0:
        return "0T"  # PVE::JSONSchema::format_size: every unit divides 0, so it ends at the largest
    for unit, mult in (("T", 1024 ** 4), ("G", 1024 ** 3), ("M", 1024 ** 2), ("K", 1024)):
        if n >= mult and n % mult == 0:
            return "%d%s" % (n // mult, unit)
    return str(n)
