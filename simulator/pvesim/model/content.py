"""Storage content that arrives by download or upload: the appliance catalogue, file-name rules, checksums,
and the transfers themselves (a real fetch in a worker thread, wget's progress log, space accounting).

Facts from PVE: pve-storage src/PVE/API2/Storage/Status.pm (upload, download_url), src/PVE/Storage.pm
(ISO_EXT_RE_0, VZTMPL_EXT_RE_1, UPLOAD_IMPORT_EXT_RE_1, normalize_content_filename), pve-common
src/PVE/Tools.pm (download_file_from_url: existing-file check, wget --progress=dot:giga, checksum, rename),
pve-manager PVE/API2/Nodes.pm (aplinfo, apl_download) and PVE/APLInfo.pm (catalogue records).
Knows nothing of HTTP serving; the handlers in handlers/storage.py call into it.
"""

import bz2
import hashlib
import os
import re
import ssl
import threading
import time
import urllib.error
import urllib.request
import zlib

from .errors import PVEError, TaskError, param_error

MiB = 1024 ** 2
ALGORITHMS = ("md5", "sha1", "sha224", "sha256", "sha384", "sha512")
# PVE::Storage::Plugin::KNOWN_COMPRESSION_FORMATS
COMPRESSIONS = ("gz", "lzo", "zst", "bz2")
ISO_EXT = re.compile(r"[^/]+\.(?:iso|img)$", re.I)
VZTMPL_EXT = re.compile(r"[^/]+\.tar\.(gz|xz|zst|bz2)$", re.I)
IMPORT_EXT = re.compile(r"^[a-zA-Z0-9\-.+=_]+\.(ova|qcow2|raw|vmdk)$")
SUBDIRS = {"iso": "template/iso", "vztmpl": "template/cache", "import": "import"}
CHUNK = 1024 * 1024
DOT = 1024 * 1024          # wget --progress=dot:giga: a dot is 1M, a line 32 dots
LINE = 32 * DOT
PROXMOX_SOURCE = "http://download.proxmox.com/images"
TURNKEY_SOURCE = "https://releases.turnkeylinux.org/pve"


# --- names and paths ---------------------------------------------------------------------------------

def normalize_filename(name):
    """PVE::Storage::normalize_content_filename: drop leading dirs, replace unsafe characters with '_'."""
    name = name.rstrip("\n")
    name = re.sub(r"^.*[/\\]", "", name)
    return re.sub(r"[^a-zA-Z0-9_.-]", "_", name)


def check_filename(content, filename):
    """The extension checks of upload and download_url; returns the volume format."""
    if content == "iso":
        if not ISO_EXT.search(filename):
            raise param_error({"filename": "wrong file extension"})
        return "iso"
    if content == "vztmpl":
        m = VZTMPL_EXT.search(filename)
        if not m:
            raise param_error({"filename": "wrong file extension"})
        return {"gz": "tgz", "xz": "txz", "zst": "tzst", "bz2": "tbz2"}[m.group(1).lower()]
    if content == "import":
        m = IMPORT_EXT.search(filename)
        if not m:
            raise param_error({"filename": "invalid filename or wrong extension"})
        return m.group(1)
    raise param_error({"content": "upload content-type '%s' is not allowed" % content})


def storage_dir(st):
    return "/var/lib/vz" if st.id == "local" else "/mnt/pve/%s" % st.id


def file_path(st, content, filename):
    return "%s/%s/%s" % (storage_dir(st), SUBDIRS[content], filename)


# --- checksums ---------------------------------------------------------------------------------------

class Digests:
    """Every algorithm PVE accepts, fed once while the bytes stream by (a volume keeps them for later checks)."""

    def __init__(self):
        self.h = {a: hashlib.new(a) for a in ALGORITHMS}

    def update(self, data):
        for h in self.h.values():
            h.update(data)

    def result(self):
        return {a: h.hexdigest() for a, h in self.h.items()}


def volume_digest(vol, algo):
    """The checksum of a volume's bytes; volumes made by a scenario have pvesim-made bytes nobody knows."""
    known = vol.get("digests")
    if known:
        return known[algo]
    return hashlib.new(algo, ("pvesim:%s:%s" % (vol["volid"], vol["size"])).encode()).hexdigest()


def verify_line(algo, expected, got):
    """(log line, error) of PVE's 'calculating checksum...' step."""
    if got.lower() == expected.lower():
        return "calculating checksum...OK, checksum verified", None
    return "calculating checksum...", "checksum mismatch: got '%s' != expect '%s'" % (got, expected)


# --- the appliance catalogue -------------------------------------------------------------------------

APPLIANCES = (
    # (section, os, package, version, arch, ext, headline)
    ("system", "debian-13", "debian-13-standard", "13.1-1", "amd64", "tar.zst", "Debian 13 Trixie (standard)"),
    ("system", "debian-13", "debian-13-standard", "13.2-1", "amd64", "tar.zst", "Debian 13 Trixie (standard)"),
    ("system", "debian-12", "debian-12-standard", "12.7-1", "amd64", "tar.zst", "Debian 12 Bookworm (standard)"),
    ("system", "debian-12", "debian-12-standard", "12.12-1", "amd64", "tar.zst", "Debian 12 Bookworm (standard)"),
    ("system", "ubuntu-24.04", "ubuntu-24.04-standard", "24.04-2", "amd64", "tar.zst", "Ubuntu 24.04 Noble (standard)"),
    ("system", "alpine-3.22", "alpine-3.22-default", "20250617", "amd64", "tar.xz", "Alpine Linux 3.22"),
    ("system", "rockylinux-9", "rockylinux-9-default", "20240912", "amd64", "tar.xz", "Rockylinux 9"),
    ("turnkeylinux", "debian-12", "turnkey-wordpress", "18.0-1", "amd64", "tar.gz", "TurnKey WordPress"),
    ("turnkeylinux", "debian-12", "turnkey-wordpress", "18.1-1", "amd64", "tar.gz", "TurnKey WordPress"),
)


def appliance_bytes(template, size=256 * 1024):
    """Deterministic bytes that stand for a catalogue template (its sha512 is in the catalogue)."""
    seed = hashlib.sha256(template.encode()).digest()
    block = b"pvesim appliance " + template.encode() + b"\n" + seed * 32
    return (block * (size // len(block) + 1))[:size]


def catalogue():
    """GET /nodes/{node}/aplinfo records as APLInfo.pm builds them (template = file name of location)."""
    out = []
    for section, os_, package, version, arch, ext, headline in APPLIANCES:
        turnkey = section == "turnkeylinux"
        template = ("%s-%s_%s_%s.%s" % (os_, package, version, arch, ext)) if turnkey else \
            "%s_%s_%s.%s" % (package, version, arch, ext)
        source = TURNKEY_SOURCE if turnkey else PROXMOX_SOURCE
        data = appliance_bytes(template)
        rec = {"template": template, "package": package, "version": version, "type": "lxc", "os": os_,
               "section": section, "headline": headline, "architecture": arch,
               "description": "%s, generated by pvesim (not a real image)." % headline,
               "infopage": ("https://www.turnkeylinux.org/" + package[len("turnkey-"):]) if turnkey else
               "https://pve.proxmox.com/wiki/Linux_Container#pct_supported_distributions",
               "location": "%s/%s" % (source, template) if turnkey else "%s/%s/%s" % (source, section, template),
               "source": source, "sha512sum": hashlib.sha512(data).hexdigest(),
               "maintainer": "Proxmox Support Team <support@proxmox.com>" if not turnkey else
               "Turnkey Linux <support@turnkeylinux.org>"}
        if turnkey:
            rec["certified"] = "yes"
            rec["manageurl"] = "https://__IPADDRESS__/"
        out.append(rec)
    return out


# --- transfers ---------------------------------------------------------------------------------------

def _human(n):
    for unit, div in (("G", 1024 ** 3), ("M", MiB), ("K", 1024)):
        if n >= div:
            return "%d%s" % (n // div, unit)
    return str(n)


class Progress:
    """wget --progress=dot:giga lines, appended to the task log as the bytes arrive."""

    def __init__(self, log, length):
        self.log = log
        self.length = length
        self.done = 0
        self.line_start = 0
        self.started = time.monotonic()

    def add(self, n):
        self.done += n
        while self.done - self.line_start >= LINE:
            self._line(self.line_start + LINE, LINE // DOT)

    def _line(self, upto, dots, last=False):
        groups = " ".join("." * min(8, dots - i) for i in range(0, dots, 8)) if dots else ""
        pct = " %3d%%" % (upto * 100 // self.length) if self.length else ""
        rate = max(upto - self.line_start, 1) / max(time.monotonic() - self.started, 0.001)
        tail = ("%s=%.1fs" % (_human(int(rate)), time.monotonic() - self.started)) if last else _human(int(rate)) + " 0s"
        self.log.append("%7dK %-35s%s %s" % (self.line_start // 1024, groups, pct, tail))
        self.line_start = upto

    def finish(self):
        rest = self.done - self.line_start
        if rest > 0 or self.done == 0:
            self._line(self.done, -(-rest // DOT), last=True)


class Transfer:
    """One download task: the fetch runs in its own thread, the task is finished by it."""

    def __init__(self, cluster, task, node, st, content, filename, fmt, checksum=None, algo=None, compression=None,
                 url=None, verify=True, source=None):
        self.c = cluster
        self.task = task
        self.node = node
        self.st = st
        self.content = content
        self.filename = filename
        self.fmt = fmt
        self.checksum = checksum
        self.algo = algo
        self.compression = compression
        self.url = url
        self.verify = verify
        self.source = source  # bytes served without a network fetch (the catalogue's appliances)
        self.dest = file_path(st, content, filename)
        self.volid = "%s:%s/%s" % (st.id, content, filename)
        self.tmp = "%s.tmp.%d" % (self.dest, task.pid)

    def start(self):
        threading.Thread(target=self._run, name="pvesim-download-" + self.filename, daemon=True).start()

    # the thread
    def _run(self):
        try:
            result = self._download()
        except TaskError as exc:
            self._finish(error=str(exc))
        except Exception as exc:  # anything else is a bug of pvesim, still the task must end
            self._finish(error="pvesim internal error: %s" % exc)
        else:
            self._finish(result=result)

    def _finish(self, error=None, result=None):
        with self.c.lock:
            if self.task.status != "running":
                return
            if error is None and result is not None:
                size, digests = result
                self.task.work = lambda task: self._store(task, size, digests)
            self.c.tasks.finish(self.task, error=error)

    def _store(self, task, size, digests):
        vol = self.c.add_volume(self.node, self.volid, size, content=self.content, fmt=self.fmt)
        vol["digests"] = digests
        task.log.append("download of '%s' to '%s' finished" % (self.url, self.dest))

    def _log(self, line):
        self.task.log.append(line)

    def _existing(self):
        with self.c.lock:
            return self.c.find_volume(self.node, self.volid)

    def _download(self):
        self._log("downloading %s to %s" % (self.url, self.dest))
        vol = self._existing()
        if vol is not None:
            if not self.algo:
                raise TaskError("refusing to override existing file '%s'" % self.dest)
            got = volume_digest(vol, self.algo)
            if got.lower() == self.checksum.lower():
                self._log("calculating checksum of existing file...OK, got correct file already, no need to download")
                return None
            self._log("calculating checksum of existing file...")
            raise TaskError("checksum mismatch: got '%s' != expect '%s', aborting" % (got, self.checksum))
        size, digests = self._fetch()
        if self.algo:
            line, err = verify_line(self.algo, self.checksum, digests[self.algo])
            self._log(line)
            if err:
                raise TaskError(err)
        if self.compression:
            size, digests = self._decompressed()
        return size, digests

    def _wget(self):
        return "wget --progress=dot:giga -O %s %s" % (self.tmp, self.url)

    def _fetch(self):
        self._log("--%s--  %s" % (time.strftime("%Y-%m-%d %H:%M:%S"), self.url))
        if self.source is not None:
            chunks, length, ctype = _memory_chunks(self.source), len(self.source), "application/octet-stream"
            resp = None
        else:
            resp, length, ctype = self._open()
            chunks = iter(lambda: resp.read(CHUNK), b"")
        self._log("Length: %s%s [%s]" % (length if length is not None else "unspecified",
                                          " (%s)" % _human(length) if length else "", ctype))
        self._log("Saving to: '%s'" % self.tmp)
        digests = Digests()
        keep = [] if self.compression else None  # decompression needs the bytes (small test files only)
        progress = Progress(self.task.log, length)
        with self.c.lock:
            full = self.c.storage_full_hook(self.st.id)
        try:
            for chunk in chunks:
                if self.task.status != "running":
                    raise TaskError("got interrupted by signal")
                with self.c.lock:
                    over = self.c.storage_used(self.st.id, self.node) + progress.done + len(chunk) > self.st.total
                if full or over:
                    self._log("Cannot write to '%s' (No space left on device)." % self.tmp)
                    raise TaskError("download failed: command '%s' failed: exit code 3" % self._wget())
                digests.update(chunk)
                if keep is not None:
                    keep.append(chunk)
                progress.add(len(chunk))
        finally:
            if resp is not None:
                resp.close()
        progress.finish()
        self._log("%s (%s/s) - '%s' saved [%d/%d]" % (time.strftime("%Y-%m-%d %H:%M:%S"), "%.1f MB" % (
            progress.done / MiB / max(time.monotonic() - progress.started, 0.001)), self.tmp, progress.done,
            length if length is not None else progress.done))
        self.raw = b"".join(keep) if keep is not None else None
        return progress.done, digests.result()

    def _open(self):
        ctx = ssl.create_default_context()
        if not self.verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        host = urllib.request.urlparse(self.url).netloc
        try:
            resp = urllib.request.urlopen(urllib.request.Request(self.url, headers={"User-Agent": "Wget/1.25.0"}),
                                          timeout=30, context=ctx)
        except urllib.error.HTTPError as exc:
            self._log("Connecting to %s... connected." % host)
            self._log("HTTP request sent, awaiting response... %d %s" % (exc.code, exc.reason))
            self._log("%s ERROR %d: %s." % (time.strftime("%Y-%m-%d %H:%M:%S"), exc.code, exc.reason))
            raise TaskError("download failed: command '%s' failed: exit code 8" % self._wget())
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, ssl.SSLCertVerificationError):
                self._log("ERROR: The certificate of '%s' is not trusted." % host.split(":")[0])
                self._log("To connect to %s insecurely, use `--no-check-certificate'." % host.split(":")[0])
                raise TaskError("download failed: command '%s' failed: exit code 5" % self._wget())
            self._log("Connecting to %s... failed: %s." % (host, getattr(reason, "strerror", None) or reason))
            raise TaskError("download failed: command '%s' failed: exit code 4" % self._wget())
        except OSError as exc:
            self._log("Connecting to %s... failed: %s." % (host, exc))
            raise TaskError("download failed: command '%s' failed: exit code 4" % self._wget())
        self._log("Connecting to %s... connected." % host)
        self._log("HTTP request sent, awaiting response... %d %s" % (resp.status, resp.reason))
        length = resp.headers.get("Content-Length")
        return resp, int(length) if length and length.isdigit() else None, \
            (resp.headers.get("Content-Type") or "application/octet-stream").split(";")[0]

    def _decompressed(self):
        tmp = "%s.tmp_dcom.%d" % (self.dest, self.task.pid)
        self._log("decompressing %s to %s" % (self.tmp, tmp))
        if self.compression == "gz":
            data = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(self.raw)
        elif self.compression == "bz2":
            data = bz2.decompress(self.raw)
        else:
            raise TaskError("pvesim: decompression of '%s' is not simulated (gz and bz2 are)" % self.compression)
        digests = Digests()
        digests.update(data)
        return len(data), digests.result()


def _memory_chunks(data):
    for i in range(0, len(data), CHUNK):
        yield data[i:i + CHUNK]


def start_download(cluster, node, st, content, filename, fmt, user, **kw):
    """Start the `download` task (id = file name, as Status.pm's encode_text of it) and its fetch."""
    task = cluster.tasks.start(node, "download", filename, user, None, None)
    Transfer(cluster, task, node, st, content, filename, fmt, **kw).start()
    return task


def start_upload(cluster, node, st, content, filename, fmt, user, spool, checksum=None, algo=None):
    """The `imgcopy` task of an upload: checksum of the spooled file, then the copy into the storage."""
    dest = file_path(st, content, filename)
    volid = "%s:%s/%s" % (st.id, content, filename)

    def work(task):
        task.log.append("starting file import from: %s" % spool.name)
        try:
            digests = spool.digests()
            if algo:
                line, err = verify_line(algo, checksum, digests[algo])
                task.log.append(line)
                if err:
                    raise TaskError(err)
            task.log.append("target node: %s" % node)
            task.log.append("target file: %s" % dest)
            task.log.append("file size is: %d" % spool.size)
            task.log.append("command: cp -- %s %s" % (spool.name, dest))
            try:
                cluster.alloc_check(st.id, node, spool.size)
            except PVEError:
                task.log.append("cp: error writing '%s': No space left on device" % dest)
                raise TaskError("import failed: command 'cp -- %s %s' failed: exit code 1" % (spool.name, dest))
            # PVE's upload overwrites an existing file of that name (Status.pm: "we simply overwrite")
            vol = cluster.add_volume(node, volid, spool.size, content=content, fmt=fmt)
            vol["digests"] = digests
            task.log.append("finished file import successfully")
        finally:
            spool.remove()

    return cluster.tasks.start(node, "imgcopy", "", user, 1 + spool.size / (200 * MiB), work)


def url_metadata(url, verify=True, catalogue_entries=()):
    """GET /nodes/{node}/query-url-metadata: a HEAD request (Nodes.pm query_url_metadata)."""
    for a in catalogue_entries:
        if a["location"] == url:
            return {"filename": a["template"], "size": len(appliance_bytes(a["template"])),
                    "mimetype": "application/octet-stream"}
    ctx = ssl.create_default_context()
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=30, context=ctx)
    except urllib.error.HTTPError as exc:
        raise PVEError("invalid server response: '%d %s'" % (exc.code, exc.reason))
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise PVEError("invalid server response: '500 Can't connect to %s (%s)'"
                       % (urllib.request.urlparse(url).netloc, reason))
    with resp:
        out = {}
        disp = resp.headers.get("Content-Disposition") or ""
        m = re.search(r'filename="([^"]*)"', disp) or re.search(r"filename=([^;]*)", disp)
        if m:
            out["filename"] = m.group(1)
        else:
            m = re.match(r"^[^?]+/([^?/]*)(?:\?.*)?$", url)
            if m and m.group(1):
                out["filename"] = m.group(1)
        size = resp.headers.get("Content-Length")
        if size and size.isdigit() and int(size):
            out["size"] = int(size)
        ctype = resp.headers.get("Content-Type")
        if ctype:
            out["mimetype"] = ctype.split(";")[0]
        return out


class Spool:
    """An upload's body part on disk, as pveproxy writes it to /var/tmp/pveupload-<md5>."""

    def __init__(self, path, size, name):
        self.path = path
        self.size = size
        self.name = name

    def digests(self):
        d = Digests()
        with open(self.path, "rb") as fh:
            for chunk in iter(lambda: fh.read(CHUNK), b""):
                d.update(chunk)
        return d.result()

    def remove(self):
        try:
            os.unlink(self.path)
        except OSError:
            pass
