"""/nodes/{node}/storage, content, upload, download-url, aplinfo."""

import hashlib
import ipaddress
import re
import ssl
import urllib.parse
import urllib.request

from ..model.cluster import template_content
from ..model.errors import PVEError, TaskError, param_error
from . import route

CONTENT_DIRS = {"iso": "iso", "vztmpl": "vztmpl", "import": "import", "snippets": "snippets", "backup": "dump"}
EXTENSIONS = {"iso": (".iso", ".img"), "vztmpl": (".tar.gz", ".tar.xz", ".tar.zst", ".tgz", ".tar.bz2"),
              "import": (".qcow2", ".raw", ".vmdk", ".ova", ".img"), "snippets": ("",)}


def _storage(ctx, content=None):
    c = ctx.cluster
    sid = ctx.params["storage"]
    st = c.storages.get(sid)
    if st is None or not st.available_on(ctx.params["node"]):
        raise PVEError("storage '%s' does not exist" % sid)
    if content and content not in st.content:
        raise PVEError("storage '%s' does not support %s" % (sid, {"vztmpl": "templates"}.get(content, content)))
    return st


@route("GET", "/nodes/{node}/storage")
def storage_list(ctx):
    c = ctx.cluster
    node = ctx.params["node"]
    out = []
    for sid, st in sorted(c.storages.items()):
        if not st.available_on(node):
            continue
        if ctx.params.get("storage") and ctx.params["storage"] != sid:
            continue
        if ctx.params.get("content") and not set(ctx.params["content"].split(",")) & set(st.content):
            continue
        if ctx.params.get("enabled") and not st.enabled:
            continue
        if ctx.params.get("target") and not st.available_on(ctx.params["target"]):
            continue
        if not ctx.can("/storage/" + sid, ["Datastore.Audit", "Datastore.AllocateSpace"], True):
            continue
        out.append(c.storage_status(sid, node))
    return out


@route("GET", "/nodes/{node}/storage/{storage}/status")
def storage_status(ctx):
    _storage(ctx)
    return ctx.cluster.storage_status(ctx.params["storage"], ctx.params["node"])


def _vol_view(v):
    d = {k: v[k] for k in ("volid", "format", "size", "used", "ctime", "content", "vmid", "notes", "parent")
         if k in v}
    d["protected"] = v.get("protected", 0) if v.get("protected") else None
    if d["protected"] is None:
        d.pop("protected")
    if "verification" in v:
        d["verification"] = v["verification"]
    return d


@route("GET", "/nodes/{node}/storage/{storage}/content")
def content_list(ctx):
    c = ctx.cluster
    st = _storage(ctx)
    node = ctx.params["node"]
    scope = c.scope(st.id, node)
    out = []
    for (s, volid), v in sorted(c.volumes.items()):
        if s != scope or not volid.startswith(st.id + ":"):
            continue
        if ctx.params.get("content") and v["content"] != ctx.params["content"]:
            continue
        if ctx.params.get("vmid") is not None and v.get("vmid") != ctx.params["vmid"]:
            continue
        if v.get("vmid") and not ctx.can("/vms/%s" % v["vmid"], ["VM.Audit"]) and \
                not ctx.can("/storage/" + st.id, ["Datastore.Allocate"]):
            continue
        out.append(_vol_view(v))
    return out


def _volid(ctx):
    vol = ctx.params["volume"]
    if ":" not in vol:
        vol = "%s:%s" % (ctx.params["storage"], vol)
    return vol


@route("GET", "/nodes/{node}/storage/{storage}/content/{volume}")
def content_get(ctx):
    _storage(ctx)
    volid = _volid(ctx)
    v = ctx.cluster.find_volume(ctx.params["node"], volid)
    if v is None:
        raise PVEError("volume '%s' does not exist" % volid)
    return {"path": "/var/lib/vz/" + volid.split(":", 1)[1], "size": v["size"], "used": v["used"],
            "format": v["format"], "notes": v.get("notes"), "protected": v.get("protected", 0)}


@route("PUT", "/nodes/{node}/storage/{storage}/content/{volume}")
def content_put(ctx):
    _storage(ctx)
    volid = _volid(ctx)
    v = ctx.cluster.find_volume(ctx.params["node"], volid)
    if v is None:
        raise PVEError("volume '%s' does not exist" % volid)
    for k in ("notes", "protected"):
        if k in ctx.params:
            v[k] = ctx.params[k]
    return None


@route("DELETE", "/nodes/{node}/storage/{storage}/content/{volume}")
def content_delete(ctx):
    c = ctx.cluster
    _storage(ctx)
    node = ctx.params["node"]
    volid = _volid(ctx)
    v = c.find_volume(node, volid)
    if v is None:
        raise PVEError("volume '%s' does not exist" % volid)
    if v.get("protected"):
        raise PVEError("volume '%s' is protected" % volid)
    user = c.volume_in_use(volid)
    if v.get("vmid") and user is not None:
        raise PVEError("unable to delete '%s' - volume is still in use by VM %s" % (volid, user))

    def work(task):
        c.remove_volume(node, volid)
        task.log.append("Removed volume '%s'" % volid)

    task = c.tasks.start(node, "imgdel", "", ctx.authid, 0, work)
    if ctx.params.get("delay") and task.status == "stopped":
        return None
    return task.upid


@route("POST", "/nodes/{node}/storage/{storage}/content")
def content_alloc(ctx):
    c = ctx.cluster
    st = _storage(ctx, "images")
    node = ctx.params["node"]
    fname = ctx.params["filename"]
    vmid = ctx.params["vmid"]
    size = ctx.params["size"]
    m = re.match(r"^(\d+)([KMG])?$", size)
    if not m:
        raise param_error({"size": "unable to parse size '%s'" % size})
    nbytes = int(m.group(1)) * {"K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, None: 1024}[m.group(2)]
    fmt = ctx.params.get("format") or ("qcow2" if st.is_file else "raw")
    volid = "%s:%s/%s" % (st.id, vmid, fname) if st.is_file else "%s:%s" % (st.id, fname)
    if c.find_volume(node, volid):
        raise PVEError("volume '%s' already exists" % volid)
    c.alloc_check(st.id, node, nbytes)
    c.add_volume(node, volid, nbytes, content="images", fmt=fmt, vmid=vmid)
    return volid


def _check_name(content, filename):
    if "/" in filename or filename.startswith("."):
        raise param_error({"filename": "invalid filename"})
    exts = EXTENSIONS.get(content, ("",))
    if not any(filename.endswith(e) for e in exts):
        raise param_error({"filename": "wrong file extension"})


def _store_file(c, node, sid, content, filename, data):
    volid = "%s:%s/%s" % (sid, content, filename)
    fmt = filename.rsplit(".", 1)[-1]
    c.alloc_check(sid, node, len(data))
    c.add_volume(node, volid, len(data), content=content, fmt={"zst": "tzst", "gz": "tgz", "xz": "txz"}.get(fmt, fmt),
                 data=None)
    return volid


def _verify(algo, expected, data, task):
    if not algo:
        return
    got = hashlib.new(algo, data).hexdigest()
    if got.lower() != expected.lower():
        raise TaskError("checksum mismatch: got '%s' != expect '%s'" % (got, expected.lower()))
    task.log.append("%s checksum verified" % algo)


@route("POST", "/nodes/{node}/storage/{storage}/upload")
def upload(ctx):
    c = ctx.cluster
    p = ctx.params
    content = p["content"]
    st = _storage(ctx, content)
    data = p.get("__file__")
    if data is None:
        raise PVEError("missing file upload", 400)
    filename = p.get("filename") or p.get("__filename__")
    _check_name(content, filename)
    node = p["node"]

    def work(task):
        task.log.append("starting file import from: /var/tmp/pveupload-%s" % hashlib.md5(data).hexdigest()[:16])
        _verify(p.get("checksum-algorithm"), p.get("checksum", ""), data, task)
        try:
            volid = _store_file(c, node, st.id, content, filename, data)
        except PVEError as exc:
            raise TaskError(exc.message)
        task.log.append("target file: %s" % volid)

    return c.tasks.start(node, "imgcopy", "", ctx.authid, 1 + len(data) / (100 * 1024 ** 2), work).upid


def _loopback_only(url):
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise PVEError("pvesim: download-url only fetches from loopback hosts (got '%s')" % host)


@route("POST", "/nodes/{node}/storage/{storage}/download-url")
def download_url(ctx):
    c = ctx.cluster
    p = ctx.params
    content = p["content"]
    st = _storage(ctx, content)
    _check_name(content, p["filename"])
    url = p["url"]
    if not re.match(r"^https?://", url):
        raise param_error({"url": "invalid URL"})
    _loopback_only(url)
    node = p["node"]
    try:
        sslctx = ssl.create_default_context()
        if not p.get("verify-certificates", 1):
            sslctx.check_hostname = False
            sslctx.verify_mode = ssl.CERT_NONE
        with urllib.request.urlopen(url, timeout=30, context=sslctx) as r:
            data = r.read()
        fetch_error = None
    except Exception as exc:  # reported inside the task, as wget would
        data, fetch_error = b"", str(exc)

    def work(task):
        task.log.append("downloading %s to /var/lib/vz/template/%s/%s" % (url, content, p["filename"]))
        if fetch_error:
            raise TaskError("download failed: %s" % fetch_error)
        _verify(p.get("checksum-algorithm"), p.get("checksum", ""), data, task)
        try:
            _store_file(c, node, st.id, content, p["filename"], data)
        except PVEError as exc:
            raise TaskError(exc.message)
        task.log.append("download of '%s' to '%s' finished" % (url, p["filename"]))

    tid = urllib.parse.quote(p["filename"], safe="")
    return c.tasks.start(node, "download", tid, ctx.authid, 2 + len(data) / (50 * 1024 ** 2), work).upid


@route("GET", "/nodes/{node}/aplinfo")
def aplinfo(ctx):
    return [dict(a) for a in ctx.cluster.aplinfo]


@route("POST", "/nodes/{node}/aplinfo")
def aplinfo_download(ctx):
    c = ctx.cluster
    p = ctx.params
    st = _storage(ctx)
    if "vztmpl" not in st.content:
        raise PVEError("storage '%s' does not support templates" % st.id)
    entry = next((a for a in c.aplinfo if a["template"] == p["template"]), None)
    if entry is None:
        raise param_error({"template": "no such template"})
    node = p["node"]
    data = template_content(entry["template"])

    def work(task):
        task.log.append("downloading %s to /var/lib/vz/template/cache/%s" % (entry["source"], entry["template"]))
        if hashlib.sha512(data).hexdigest() != entry["sha512sum"]:
            raise TaskError("checksum mismatch")
        task.log.append("calculating checksum...OK, checksum verified")
        try:
            _store_file(c, node, st.id, "vztmpl", entry["template"], data)
        except PVEError as exc:
            raise TaskError(exc.message)
        task.log.append("download of '%s' to '%s' finished" % (entry["source"], entry["template"]))

    return c.tasks.start(node, "download", entry["template"], ctx.authid, 5, work).upid


def _storage_def(c, sid):
    st = c.storages[sid]
    d = {"storage": sid, "type": st.type, "content": ",".join(sorted(st.content)), "shared": st.shared,
         "digest": c.storage_digest()}
    if st.nodes:
        d["nodes"] = ",".join(st.nodes)
    if st.is_file:
        d["path"] = "/var/lib/vz" if sid == "local" else "/mnt/pve/%s" % sid
    if st.type == "lvmthin":
        d.update({"thinpool": "data", "vgname": "pve"})
    if not st.enabled:
        d["disable"] = 1
    return d


@route("GET", "/storage")
def storage_config_list(ctx):
    c = ctx.cluster
    return [_storage_def(c, sid) for sid in sorted(c.storages)
            if ctx.can("/storage/" + sid, ["Datastore.Audit", "Datastore.AllocateSpace", "Datastore.Allocate"], True)
            and (not ctx.params.get("type") or c.storages[sid].type == ctx.params["type"])]


@route("GET", "/storage/{storage}")
def storage_config_get(ctx):
    c = ctx.cluster
    if ctx.params["storage"] not in c.storages:
        raise PVEError("storage '%s' does not exist" % ctx.params["storage"])
    return _storage_def(c, ctx.params["storage"])


@route("GET", "/nodes/{node}/network")
def network_list(ctx):
    out = [{"iface": "vmbr0", "type": "bridge", "active": 1, "autostart": 1, "method": "static", "families": ["inet"],
            "bridge_ports": "eno1", "bridge_stp": "off", "bridge_fd": "0", "priority": 3,
            "cidr": "192.168.100.%d/24" % (ctx.cluster.nodes[ctx.params["node"]].index + 10)},
           {"iface": "vmbr1", "type": "bridge", "active": 1, "autostart": 1, "method": "manual", "families": ["inet"],
            "bridge_ports": "", "bridge_vlan_aware": 1, "priority": 4},
           {"iface": "eno1", "type": "eth", "active": 1, "autostart": 0, "method": "manual", "families": ["inet"],
            "exists": 1, "priority": 2}]
    typ = ctx.params.get("type")
    if typ:
        want = {"any_bridge": ("bridge", "OVSBridge"), "any_local_bridge": ("bridge",)}.get(typ, (typ,))
        out = [i for i in out if i["type"] in want]
    return out
