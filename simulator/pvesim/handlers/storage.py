"""/nodes/{node}/storage, content, upload, download-url, aplinfo."""

import ipaddress
import re
import urllib.parse

from ..model import content as content_model
from ..model.errors import PVEError, TaskError, param_error
from . import guest_perms, route


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


FILE_CONTENT = ("iso", "vztmpl", "import", "snippets", "backup")


def _vol_view(v):
    # Plugin.pm get_subdir_files reports volid, format, size and ctime of plain files: no `used`
    keys = ("volid", "format", "size", "ctime", "content", "vmid", "notes", "parent", "subtype")
    if v["content"] not in FILE_CONTENT:
        keys += ("used",)
    d = {k: v[k] for k in keys if k in v}
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
        # pve-storage Content.pm index: each volume only to who passes check_volume_access (a backup to who may
        # restore it, a guest's disk to who has Datastore.Audit and VM.Config.Disk on its guest); PVE says nothing
        # of the others
        try:
            guest_perms.check_volume_access(ctx, None, volid)
        except PVEError:
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

    # Content.pm delete: the worker id is "[vmid@]storage"
    tid = ("%s@" % v["vmid"] if v.get("vmid") else "") + volid.split(":", 1)[0]
    task = c.tasks.start(node, "imgdel", tid, ctx.authid, 0, work)
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


def _file_storage(ctx, refusal):
    """storage_check_enabled, then the file-based check of upload/download_url (Status.pm)."""
    st = ctx.cluster.storages.get(ctx.params["storage"])
    if st is None:
        raise PVEError("storage '%s' does not exist" % ctx.params["storage"])
    if not st.enabled:
        raise PVEError("storage '%s' is disabled" % st.id)
    if not st.available_on(ctx.params["node"]):
        raise PVEError("storage '%s' is not available on node '%s'" % (st.id, ctx.params["node"]))
    if not st.is_file:
        raise PVEError(refusal % st.type)
    return st


@route("POST", "/nodes/{node}/storage/{storage}/upload")
def upload(ctx):
    """Status.pm upload: the body was spooled by http/upload.py; the imgcopy task checks and copies it."""
    p = ctx.params
    spool = p.get("__file__")
    st = _file_storage(ctx, "can't upload to storage type '%s'")
    if spool is None:
        raise PVEError("missing temporary file name")
    content = p["content"]
    filename = content_model.normalize_filename(p.get("filename") or p.get("__filename__") or "")
    fmt = content_model.check_filename(content, filename)
    if content not in st.content:
        raise PVEError("storage '%s' does not support '%s' content" % (st.id, content))
    spool.claimed = True
    return content_model.start_upload(ctx.cluster, p["node"], st, content, filename, fmt, ctx.authid, spool,
                                      p.get("checksum"), p.get("checksum-algorithm")).upid


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
    """Status.pm download_url: checks in its order, then a `download` task that really fetches the URL."""
    p = ctx.params
    if p.get("compression") is not None and p["compression"] not in content_model.COMPRESSIONS:
        raise param_error({"compression": "value '%s' does not have a value in the enumeration '%s'"
                                          % (p["compression"], ", ".join(content_model.COMPRESSIONS))})
    st = _file_storage(ctx, "can't upload to storage type '%s', not a file based storage!")
    content = p["content"]
    if content not in st.content:
        raise PVEError("storage '%s' is not configured for content-type '%s'" % (st.id, content))
    filename = content_model.normalize_filename(p["filename"])
    fmt = content_model.check_filename(content, filename)
    _loopback_only(p["url"])
    if p.get("compression") and content != "iso":
        # PVE dies inside the worker: the task fails
        return ctx.cluster.tasks.start(p["node"], "download", filename, ctx.authid, 0,
                                       _fail("decompression not supported for %s" % content)).upid
    return content_model.start_download(
        ctx.cluster, p["node"], st, content, filename, fmt, ctx.authid, url=p["url"], checksum=p.get("checksum"),
        algo=p.get("checksum-algorithm"), compression=p.get("compression"),
        verify=bool(p.get("verify-certificates", 1))).upid


def _fail(message):
    def work(task):
        raise TaskError(message)
    return work


@route("GET", "/nodes/{node}/query-url-metadata")
def query_url_metadata(ctx):
    url = ctx.params["url"]
    catalogue = ctx.cluster.aplinfo
    if not any(a["location"] == url for a in catalogue):
        _loopback_only(url)
    return content_model.url_metadata(url, bool(ctx.params.get("verify-certificates", 1)), catalogue)


@route("GET", "/nodes/{node}/aplinfo")
def aplinfo(ctx):
    return [dict(a) for a in ctx.cluster.aplinfo]


@route("POST", "/nodes/{node}/aplinfo")
def aplinfo_download(ctx):
    """Nodes.pm apl_download: a `download` task (id = template) verified against the catalogue's sha512sum."""
    c = ctx.cluster
    p = ctx.params
    entry = next((a for a in c.aplinfo if a["template"] == p["template"]), None)
    if entry is None:
        raise param_error({"template": "no such template"})
    st = c.storages.get(p["storage"])
    if st is None:
        raise PVEError("storage '%s' does not exist" % p["storage"])
    if not st.enabled:
        raise PVEError("storage '%s' is disabled" % st.id)
    if not st.available_on(p["node"]):
        raise PVEError("storage '%s' is not available on node '%s'" % (st.id, p["node"]))
    if "vztmpl" not in st.content:
        raise PVEError("storage '%s' does not support templates" % st.id)
    template = entry["template"]
    fmt = content_model.check_filename("vztmpl", template)
    return content_model.start_download(
        c, p["node"], st, "vztmpl", template, fmt, ctx.authid, url=entry["location"], checksum=entry["sha512sum"],
        algo="sha512", source=content_model.appliance_bytes(template)).upid


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
