"""GET paths of the PVE 9 schema that pvesim answers with 501: the single list the README and the tests use.

Every other GET path of the schema is answered by a handler, or as a directory index or an empty collection;
a pattern may also cover such indexes (e.g. `/cluster/ceph/**` includes the served `/cluster/ceph` index).
`python -m pvesim.unserved` prints the README block; tests/test_coverage.py checks both stay in step.
"""

import re

# (area, schema path patterns: '*' matches one path segment, a trailing '**' any rest)
UNSERVED = [
    ("Ceph", ["/cluster/ceph/**", "/nodes/{node}/ceph/**"]),
    ("SDN and fabrics", ["/cluster/sdn/**", "/nodes/{node}/sdn/**"]),
    ("firewall objects, refs, macros and logs (lists are empty, options are served)",
     ["/cluster/firewall/*/*/**", "/cluster/firewall/macros", "/cluster/firewall/refs", "/nodes/{node}/firewall/log",
      "/nodes/{node}/firewall/rules/*", "/nodes/{node}/*/{vmid}/firewall/*/*", "/nodes/{node}/*/{vmid}/firewall/*/*/*",
      "/nodes/{node}/*/{vmid}/firewall/log", "/nodes/{node}/*/{vmid}/firewall/refs"]),
    ("ACME", ["/cluster/acme/**"]),
    ("backup jobs, vzdump and file restore", ["/cluster/backup/*", "/cluster/backup/*/*", "/cluster/backup-info/**",
                                             "/nodes/{node}/vzdump/*", "/nodes/{node}/storage/{storage}/file-restore/*",
                                             "/nodes/{node}/storage/{storage}/prunebackups"]),
    ("replication", ["/cluster/replication/*", "/nodes/{node}/replication/*/*"]),
    ("cluster join and corosync", ["/cluster/config/apiversion", "/cluster/config/join", "/cluster/config/qdevice",
                                   "/cluster/config/totem"]),
    ("HA groups and the manager status", ["/cluster/ha/groups/*", "/cluster/ha/status/manager_status"]),
    ("realm sync and job scheduling", ["/cluster/jobs/**"]),
    ("resource mappings", ["/cluster/mapping/*/*"]),
    ("metrics servers and export", ["/cluster/metrics/**"]),
    ("notifications", ["/cluster/notifications/**"]),
    ("TFA", ["/access/tfa/*/*", "/access/users/{userid}/tfa"]),
    ("custom CPU models and cluster CPU flags", ["/cluster/qemu/**", "/nodes/{node}/capabilities/qemu/migration"]),
    ("APT, node disks, storage scans, services, PCI mdev types", [
        "/nodes/{node}/apt/*", "/nodes/{node}/disks/**", "/nodes/{node}/scan/*", "/nodes/{node}/services/*/*",
        "/nodes/{node}/hardware/pci/*/mdev"]),
    ("journal, syslog and system report", ["/nodes/{node}/journal", "/nodes/{node}/syslog", "/nodes/{node}/report"]),
    ("consoles and websockets", ["/nodes/{node}/vncwebsocket", "/nodes/{node}/*/{vmid}/vncwebsocket",
                                 "/nodes/{node}/*/{vmid}/mtunnelwebsocket"]),
    ("rrd PNG graphs (rrddata is served)", ["/nodes/{node}/rrd", "/nodes/{node}/*/{vmid}/rrd",
                                            "/nodes/{node}/storage/{storage}/rrd"]),
    ("guest agent exec/file-read and memory blocks", ["/nodes/{node}/qemu/{vmid}/agent/exec-status",
                                                      "/nodes/{node}/qemu/{vmid}/agent/file-read",
                                                      "/nodes/{node}/qemu/{vmid}/agent/get-memory-block*"]),
    ("storage identity, import metadata, OCI queries", [
        "/nodes/{node}/storage/{storage}/identity", "/nodes/{node}/storage/{storage}/import-metadata",
        "/nodes/{node}/query-oci-repo-tags"]),
]


def _regex(pattern):
    parts = []
    for seg in pattern.strip("/").split("/"):
        if seg == "**":
            parts.append("(/.*)?")
        else:
            parts.append("/" + re.escape(seg).replace(r"\*", "[^/]*"))
    return re.compile("^" + "".join(parts) + "$")


_COMPILED = [(area, [_regex(p) for p in pats]) for area, pats in UNSERVED]


def area(schema_path):
    """The UNSERVED area that lists schema_path, or None."""
    for name, regexes in _COMPILED:
        if any(r.match(schema_path) for r in regexes):
            return name
    return None


def readme_block():
    lines = ["* GET paths answered with 501 `Method 'GET /path' not implemented` (the list is `pvesim/unserved.py`;"
             " directory indexes inside these areas are answered, collections as empty lists):"]
    for name, pats in UNSERVED:
        lines.append("  * %s: %s" % (name, ", ".join("`%s`" % p for p in pats)))
    return "\n".join(lines)


if __name__ == "__main__":
    print(readme_block())
