"""The PVE API schema (loaded at runtime from the fakepve package data) and routing from it.

The schema data is AGPL data from Proxmox's pve-docs; it is read from the installed `fakepve` package and
never copied into this repository.
"""

import gzip
import importlib.resources
import json
import re
import threading

from .. import propstring

# index ranges the schema does not state (qemu-server / pve-container source)
INDEX_RANGES = {
    "net": 32, "ipconfig": 32, "scsi": 31, "virtio": 16, "sata": 6, "ide": 4, "unused": 256, "hostpci": 16,
    "usb": 14, "serial": 4, "parallel": 3, "numa": 8, "virtiofs": 10, "mp": 256, "dev": 256, "link": 8,
}

# Section-config endpoints whose options the bundled schema data leaves empty (their properties depend on the
# rule type): pvesim's own declaration of pve-ha-manager's src/PVE/HA/Rules.pm createSchema/updateSchema.
_RULE_OPTIONS = {
    "type": {"type": "string", "enum": ["node-affinity", "resource-affinity"]},
    "resources": {"type": "string", "format": "pve-ha-resource-id-list"},
    "nodes": {"type": "string", "format": "pve-ha-node-list", "optional": 1},
    "strict": {"type": "boolean", "optional": 1},
    "affinity": {"type": "string", "enum": ["positive", "negative"], "optional": 1},
    "comment": {"type": "string", "maxLength": 4096, "optional": 1},
    "disable": {"type": "boolean", "optional": 1},
}
SECTION_PARAMS = {
    ("/cluster/ha/rules", "POST"): dict(_RULE_OPTIONS, rule={"type": "string", "format": "pve-configid"}),
    ("/cluster/ha/rules/{rule}", "PUT"): dict(
        dict((k, dict(v, optional=1)) for k, v in _RULE_OPTIONS.items()),
        rule={"type": "string", "format": "pve-configid"},
        delete={"type": "string", "format": "pve-configid-list", "optional": 1},
        digest={"type": "string", "maxLength": 64, "optional": 1}),
}

# pvesim serve --pve-version 8.4: what PVE 8.4's API (its pve-docs apidata) lacks against the bundled 9.x schema in
# the area the 8.4 mode is for, HA: rules came with 9.0 (groups were migrated to them), and so did a resource's
# failback (8.4 has it on the group, as nofailback) and auto-rebalance. Everything else stays 9.x (README).
PVE8_ABSENT_PATHS = ("/cluster/ha/rules", "/cluster/ha/rules/{rule}", "/cluster/ha/status/arm-ha",
                     "/cluster/ha/status/disarm-ha")
PVE8_ABSENT_PARAMS = {("/cluster/ha/resources", "POST"): ("failback", "auto-rebalance"),
                      ("/cluster/ha/resources/{sid}", "PUT"): ("failback", "auto-rebalance")}

_lock = threading.Lock()
_schemas = {}


class Method:
    __slots__ = ("method", "path", "info", "props", "indexed", "allowtoken", "permissions", "additional", "protected")

    def __init__(self, method, path, info):
        self.method = method
        self.path = path
        self.info = info
        params = info.get("parameters") or {}
        self.props = {}
        self.indexed = []
        for k, v in (params.get("properties") or {}).items():
            m = re.match(r"^([a-z_]+)\[n\]$", k)
            if m:
                self.indexed.append((m.group(1), INDEX_RANGES.get(m.group(1), 256), v))
            else:
                self.props[k] = v
        self.additional = bool(params.get("additionalProperties", 0))
        self.allowtoken = info.get("allowtoken", 1)
        self.permissions = info.get("permissions")
        self.protected = info.get("protected", 0)

    def prop(self, key):
        spec = self.props.get(key)
        if spec is not None:
            return spec
        for base, count, spec in self.indexed:
            if key.startswith(base):
                idx = key[len(base):]
                if idx.isdigit() and str(int(idx)) == idx and int(idx) < count:
                    return spec
        return None


class Schema:
    def __init__(self, paths):
        self.paths = paths
        self.tree = {}
        self.methods = {}
        for path, methods in paths.items():
            node = self.tree
            for seg in path.strip("/").split("/"):
                key = "{}" if seg.startswith("{") else seg
                node = node.setdefault(key, {})
                if key == "{}":
                    node.setdefault("__name__", seg[1:-1])
            node["__path__"] = path
            self.methods[path] = {}
            for m, i in methods.items():
                extra = SECTION_PARAMS.get((path, m))
                if extra and not (i.get("parameters") or {}).get("properties", {}).get("resources"):
                    i = dict(i, parameters=dict(i.get("parameters") or {}, properties=extra))
                self.methods[path][m] = Method(m, path, i)

    def match(self, path):
        """Return (schema_path, {param: value}) or (None, None)."""
        import urllib.parse
        segs = [urllib.parse.unquote(s) for s in path.strip("/").split("/")]
        if segs == [""]:
            return None, None
        res = self._match(self.tree, segs, 0, {})
        if res[0] is None:
            # an unencoded volume ID such as local:iso/x.iso: let the last path parameter take the rest
            for cut in range(len(segs) - 1, 0, -1):
                joined = segs[:cut] + ["/".join(segs[cut:])]
                res = self._match(self.tree, joined, 0, {})
                if res[0] and res[0].endswith("{volume}"):
                    return res
            return None, None
        return res

    def _match(self, node, segs, i, params):
        if i == len(segs):
            p = node.get("__path__")
            return (p, params) if p else (None, None)
        seg = segs[i]
        if seg in node and not seg.startswith("__"):
            res = self._match(node[seg], segs, i + 1, params)
            if res[0]:
                return res
        if "{}" in node and seg != "":
            sub = node["{}"]
            res = self._match(sub, segs, i + 1, dict(params, **{sub["__name__"]: seg}))
            if res[0]:
                return res
        return None, None

    def _node(self, path):
        node = self.tree
        for seg in path.strip("/").split("/"):
            node = node.get("{}" if seg.startswith("{") else seg, {})
        return node

    def is_collection(self, path):
        """The path's only child is a parameter ({id}): its GET lists objects, not sub-directories."""
        keys = [k for k in self._node(path) if not k.startswith("__")]
        return keys == ["{}"]

    def children(self, path):
        node = self.tree
        for seg in path.strip("/").split("/"):
            node = node.get("{}" if seg.startswith("{") else seg, {})
        out = []
        for k, v in node.items():
            if k.startswith("__"):
                continue
            out.append(v["__name__"] if k == "{}" else k)
        return out


def load(major="9"):
    """The schema pvesim routes by: the bundled PVE 9.x one, or for major '8' that one less PVE8_ABSENT_*."""
    with _lock:
        if major not in _schemas:
            raw = importlib.resources.files("fakepve").joinpath("data/pve-api.json.gz").read_bytes()
            paths = json.loads(gzip.decompress(raw))["paths"]
            if major == "8":
                paths = _pve8(paths)
            _schemas[major] = Schema(paths)
        return _schemas[major]


def _pve8(paths):
    paths = dict((p, m) for p, m in paths.items() if p not in PVE8_ABSENT_PATHS)
    for (path, method), names in PVE8_ABSENT_PARAMS.items():
        info = paths[path][method]
        params = dict(info.get("parameters") or {})
        params["properties"] = dict((k, v) for k, v in params.get("properties", {}).items() if k not in names)
        paths[path] = dict(paths[path], **{method: dict(info, parameters=params)})
    return paths


MISSING = "property is missing and it is not optional"
NOT_DEFINED = "property is not defined in schema and the schema does not allow additional properties"


def validate(method, params):
    """Validate and coerce params for a schema Method. Returns (clean, errors)."""
    clean = {}
    errors = {}
    for key, value in params.items():
        spec = method.prop(key)
        if spec is None:
            if not method.additional:
                errors[key] = NOT_DEFINED
            else:
                clean[key] = value
            continue
        if "alias" in spec:
            key, spec = spec["alias"], method.prop(spec["alias"]) or {}
        typ = spec.get("type", "string")
        if typ == "array":
            clean[key] = value if isinstance(value, list) else [value]
            continue
        if isinstance(value, list):
            fmt = spec.get("format")
            if isinstance(fmt, str) and fmt.endswith("-list"):
                value = ",".join(map(str, value))
            else:
                errors[key] = "type check ('%s') failed - got ARRAY" % typ
                continue
        if typ == "object":
            clean[key] = value
            continue
        val, err = propstring.check_value(spec, value)
        if err:
            errors[key] = err
        else:
            clean[key] = val
    for key, spec in method.props.items():
        if key not in params and not spec.get("optional") and "alias" not in spec and key not in errors:
            errors[key] = MISSING
    for key in list(clean):
        spec = method.prop(key) or {}
        req = spec.get("requires")
        if req and req not in clean and req not in errors:
            errors[req] = "missing property required by '%s'" % key
    return clean, errors
