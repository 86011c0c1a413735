"""Streamed multipart bodies of POST .../storage/{storage}/upload, as pveproxy receives them.

pve-http-server src/PVE/APIServer/AnyEvent.pm (file_upload_multipart): the body is never held in memory;
the part with a file name must be the form field `filename` and goes to /var/tmp/pveupload-<md5>, the
other fields become parameters; anything else ends in 501 "upload failed".
"""

import hashlib
import os
import re
import tempfile
import time

from ..model.content import Spool

CHUNK = 1024 * 1024
MAX_FIELD = 64 * 1024
UPLOAD_PATH = re.compile(r"^/api2/(json|extjs)/nodes/[^/]+/storage/[^/]+/upload/?(\?.*)?$")


def wants_spool(method, path, ctype):
    return method == "POST" and bool(UPLOAD_PATH.match(path)) and \
        (ctype or "").lower().startswith("multipart/form-data")


class Received:
    """What the multipart body held: form fields, and the spooled file as `__file__`."""

    def __init__(self):
        self.params = {}
        self.error = None
        self.spool = None

    def __bool__(self):
        return True

    def cleanup(self):
        """Remove a spooled file no task took (the request failed before the handler)."""
        if self.spool is not None and not getattr(self.spool, "claimed", False):
            self.spool.remove()


def _boundary(ctype):
    m = re.search(r'boundary\s*=\s*"?([^";,]+)"?', ctype or "", re.I)
    return m.group(1).encode() if m else None


def receive(rfile, length, ctype, spool_dir=None):
    got = Received()
    boundary = _boundary(ctype)
    reader = _Reader(rfile, length)
    if boundary is None:
        reader.drain()
        got.error = "upload 'Content-Type '%s' not implemented" % ctype
        return got
    try:
        _parse(reader, b"\r\n--" + boundary, got, spool_dir or tempfile.gettempdir())
    finally:
        reader.drain()
    return got


class _Reader:
    def __init__(self, rfile, length):
        self.rfile = rfile
        self.left = length
        self.buf = b"\r\n"  # so the first boundary looks like every other one

    def more(self):
        if self.left <= 0:
            return False
        data = self.rfile.read(min(CHUNK, self.left))
        if not data:
            self.left = 0
            return False
        self.left -= len(data)
        self.buf += data
        return True

    def drain(self):
        while self.left > 0 and self.rfile.read(min(CHUNK, self.left)):
            self.left -= CHUNK
        self.left = 0

    def until(self, marker, sink=None):
        """Consume up to `marker` (dropped); bytes before it go to sink (or are returned)."""
        kept = []
        while True:
            i = self.buf.find(marker)
            if i >= 0:
                head, self.buf = self.buf[:i], self.buf[i + len(marker):]
                if sink:
                    sink(head)
                else:
                    kept.append(head)
                return b"".join(kept)
            # keep what could be the start of the marker
            safe = len(self.buf) - len(marker) + 1
            if safe > 0:
                if sink:
                    sink(self.buf[:safe])
                else:
                    kept.append(self.buf[:safe])
                    if sum(len(k) for k in kept) > MAX_FIELD:
                        raise ValueError("form data to large")
                self.buf = self.buf[safe:]
            if not self.more():
                raise ValueError("unexpected end of multipart body")

    def need(self, n):
        while len(self.buf) < n:
            if not self.more():
                raise ValueError("unexpected end of multipart body")


def _disposition(headers):
    name = filename = None
    for line in headers.split(b"\r\n"):
        key, _, value = line.decode("utf-8", "replace").partition(":")
        if key.strip().lower() != "content-disposition":
            continue
        for item in value.split(";")[1:]:
            k, _, v = item.strip().partition("=")
            v = v.strip().strip('"')
            if k.lower() == "name":
                name = v
            elif k.lower() == "filename":
                filename = v
    return name, filename


def _parse(reader, sep, got, spool_dir):
    try:
        reader.until(sep)
        while True:
            reader.need(2)
            if reader.buf.startswith(b"--"):
                return
            headers = reader.until(b"\r\n\r\n")
            name, filename = _disposition(headers.lstrip(b"\r\n"))
            if not name:
                raise ValueError("wrong content disposition in multipart - abort upload")
            if filename is None:
                got.params[name] = reader.until(sep).decode("utf-8", "replace")
                continue
            if name != "filename":
                raise ValueError("wrong field name for file upload - abort upload")
            md5 = hashlib.md5(("%s%s%s" % (id(got), time.time(), os.getpid())).encode()).hexdigest()
            path = os.path.join(spool_dir, "pveupload-" + md5)
            size = 0
            with open(path, "wb") as fh:
                def write(data):
                    nonlocal size
                    fh.write(data)
                    size += len(data)
                got.spool = Spool(path, 0, "/var/tmp/pveupload-" + md5)
                reader.until(sep, write)
            got.spool.size = size
            got.params["__file__"] = got.spool
            got.params["__filename__"] = filename
            got.params["filename"] = filename
    except ValueError:
        got.error = "upload failed"
        if got.spool is not None:
            got.spool.remove()
            got.spool = None


def discard_chunked(rfile, limit=64 * CHUNK):
    """Read and drop a chunked body (up to `limit` bytes), so the client gets the refusal instead of a reset."""
    seen = 0
    while seen <= limit:
        line = rfile.readline(1024)
        try:
            size = int(line.split(b";")[0].strip() or b"0", 16)
        except ValueError:
            return
        if size == 0:
            rfile.readline(1024)
            return
        rfile.read(size + 2)
        seen += size
