"""Storage content that arrives over the network: download-url, upload, aplinfo, query-url-metadata."""

import gzip
import hashlib
import http.server
import os
import threading
import time

import pytest

MiB = 1024 * 1024


class Files(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), FileHandler)
        self.files = {}
        self.gate = threading.Event()
        self.gate.set()

    def url(self, name):
        return "http://127.0.0.1:%d/%s" % (self.server_address[1], name)


class FileHandler(http.server.BaseHTTPRequestHandler):
    def _head(self):
        data = self.server.files.get(self.path.lstrip("/"))
        if data is None:
            self.send_error(404, "Not Found")
            return None
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        return data

    def do_HEAD(self):
        self._head()

    def do_GET(self):
        data = self._head()
        if data is None:
            return
        half = len(data) // 2
        self.wfile.write(data[:half])
        self.wfile.flush()
        self.server.gate.wait(20)  # a test holds the second half back to keep the download in flight
        self.wfile.write(data[half:])

    def log_message(self, *a):
        pass


@pytest.fixture
def files():
    srv = Files()
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.gate.set()
    srv.shutdown()


def payload(n, seed=b"x"):
    return (hashlib.sha256(seed).digest() * (n // 32 + 1))[:n]


def wait(api, upid, timeout=20):
    end = time.monotonic() + timeout
    while True:
        st = api.task(upid)
        if st["status"] == "stopped" or time.monotonic() > end:
            return st
        time.sleep(0.05)


def log_text(api, upid):
    return [ln["t"] for ln in api.log(upid)]


def volumes(api, storage="local", node="pve1", content=None):
    params = {"content": content} if content else {}
    return {v["volid"]: v for v in api.ok("GET", "/nodes/%s/storage/%s/content" % (node, storage), params=params)}


def download(api, url, filename, content="iso", node="pve1", storage="local", **extra):
    data = dict(url=url, filename=filename, content=content, **extra)
    return api.ok("POST", "/nodes/%s/storage/%s/download-url" % (node, storage), data=data)


def test_download_fetches_verifies_and_keeps_existing_files(api, files):
    data = payload(3 * MiB + 5)
    files.files["img.qcow2"] = data
    sha = hashlib.sha256(data).hexdigest()
    upid = download(api, files.url("img.qcow2"), "img.qcow2", "import", checksum=sha, **{"checksum-algorithm": "sha256"})
    assert upid.split(":")[5:7] == ["download", "img.qcow2"]
    assert wait(api, upid)["exitstatus"] == "OK"
    log = log_text(api, upid)
    assert log[0] == "downloading %s to /var/lib/vz/import/img.qcow2" % files.url("img.qcow2")
    assert "Length: %d (3M) [application/octet-stream]" % len(data) in log
    assert "calculating checksum...OK, checksum verified" in log
    assert log[-2:] == ["download of '%s' to '/var/lib/vz/import/img.qcow2' finished" % files.url("img.qcow2"), "TASK OK"]
    vol = volumes(api, content="import")["local:import/img.qcow2"]
    assert vol["size"] == len(data) and vol["format"] == "qcow2" and "used" not in vol
    # pve-common download_file_from_url never overwrites: the existing file's checksum decides
    upid = download(api, files.url("img.qcow2"), "img.qcow2", "import", checksum=sha, **{"checksum-algorithm": "sha256"})
    assert wait(api, upid)["exitstatus"] == "OK"
    assert "calculating checksum of existing file...OK, got correct file already, no need to download" in log_text(api, upid)
    upid = download(api, files.url("img.qcow2"), "img.qcow2", "import")
    assert wait(api, upid)["exitstatus"] == "refusing to override existing file '/var/lib/vz/import/img.qcow2'"
    upid = download(api, files.url("img.qcow2"), "img.qcow2", "import", checksum="0" * 64,
                    **{"checksum-algorithm": "sha256"})
    assert wait(api, upid)["exitstatus"] == "checksum mismatch: got '%s' != expect '%s', aborting" % (sha, "0" * 64)
    # a new file with the wrong checksum is not kept
    upid = download(api, files.url("img.qcow2"), "other.iso", checksum="0" * 32, **{"checksum-algorithm": "md5"})
    assert wait(api, upid)["exitstatus"] == "checksum mismatch: got '%s' != expect '%s'" % (
        hashlib.md5(data).hexdigest(), "0" * 32)
    assert "local:iso/other.iso" not in volumes(api)


def test_download_refusals(pvesim, api, files):
    files.files["a.iso"] = b"iso" * 100
    url = files.url("a.iso")
    r = api.post("/nodes/pve1/storage/local-lvm/download-url", data={"url": url, "filename": "a.iso", "content": "iso"})
    assert r.status_code == 500 and r.reason == "can't upload to storage type 'lvmthin', not a file based storage!"
    r = api.post("/nodes/pve1/storage/local/download-url", data={"url": url, "filename": "a.txt", "content": "iso"})
    assert r.status_code == 400 and r.json()["errors"] == {"filename": "wrong file extension"}
    r = api.post("/nodes/pve1/storage/local/download-url", data={"url": url, "filename": "a.img", "content": "import"})
    assert r.json()["errors"] == {"filename": "invalid filename or wrong extension"}
    r = api.post("/nodes/pve1/storage/local/download-url",
                 data={"url": url, "filename": "a.iso", "content": "iso", "compression": "rar"})
    assert r.json()["errors"] == {"compression": "value 'rar' does not have a value in the enumeration "
                                                 "'gz, lzo, zst, bz2'"}
    upid = download(api, url, "a.qcow2", "import", compression="gz")
    assert wait(api, upid)["exitstatus"] == "decompression not supported for import"
    upid = download(api, files.url("missing.iso"), "m.iso")
    st = wait(api, upid)
    assert st["exitstatus"].startswith("download failed: command 'wget --progress=dot:giga -O /var/lib/vz/template/iso/"
                                       "m.iso.tmp.") and st["exitstatus"].endswith("failed: exit code 8")
    assert any(line.endswith("ERROR 404: Not Found.") for line in log_text(api, upid))
    pvesim.fault(kind="storage_full", storage="local")
    upid = download(api, url, "a.iso")
    assert wait(api, upid)["exitstatus"].endswith("failed: exit code 3")
    assert any("(No space left on device)." in line for line in log_text(api, upid))
    pvesim.load_scenario({"storages": [{"id": "local", "type": "dir", "content": ["backup"]}]})
    r = api.post("/nodes/pve1/storage/local/download-url", data={"url": url, "filename": "a.iso", "content": "iso"})
    assert r.status_code == 500 and r.reason == "storage 'local' is not configured for content-type 'iso'"


def test_download_in_flight_is_listed_and_can_be_stopped(api, files):
    files.files["big.iso"] = payload(2 * MiB)
    files.gate.clear()
    upid = download(api, files.url("big.iso"), "big.iso")
    active = api.ok("GET", "/nodes/pve1/tasks", params={"source": "active", "typefilter": "download"})
    assert [(t["upid"], t["id"], t["status"]) for t in active] == [(upid, "big.iso", "RUNNING")]
    files.gate.set()
    assert wait(api, upid)["exitstatus"] == "OK"
    assert api.ok("GET", "/nodes/pve1/tasks", params={"source": "active"}) == []
    files.gate.clear()
    upid = download(api, files.url("big.iso"), "big2.iso")
    api.ok("DELETE", "/nodes/pve1/tasks/" + upid)
    files.gate.set()
    assert wait(api, upid)["exitstatus"] == "received interrupt"
    time.sleep(0.2)
    assert "local:iso/big2.iso" not in volumes(api)


def test_download_decompresses_iso_and_shared_storage_is_one_copy(api, files):
    raw = payload(MiB + 3, b"iso")
    files.files["d.iso.gz"] = gzip.compress(raw)
    sha = hashlib.sha256(files.files["d.iso.gz"]).hexdigest()
    upid = download(api, files.url("d.iso.gz"), "d.iso", storage="shared", compression="gz", checksum=sha,
                    **{"checksum-algorithm": "sha256"})
    assert wait(api, upid)["exitstatus"] == "OK"
    assert volumes(api, "shared", node="pve3")["shared:iso/d.iso"]["size"] == len(raw)


def test_query_url_metadata(api, files):
    files.files["m.qcow2"] = b"q" * 1234
    meta = api.ok("GET", "/nodes/pve1/query-url-metadata", params={"url": files.url("m.qcow2")})
    assert meta == {"filename": "m.qcow2", "size": 1234, "mimetype": "application/octet-stream"}
    r = api.get("/nodes/pve1/query-url-metadata", params={"url": files.url("nope.qcow2")})
    assert r.status_code == 500 and r.reason == "invalid server response: '404 Not Found'"


def test_upload_is_streamed_and_checked(pvesim, api):
    data = payload(2 * MiB + 7, b"up")
    sha = hashlib.sha512(data).hexdigest()
    r = api.post("/nodes/pve1/storage/local/upload",
                 data={"content": "iso", "checksum": sha, "checksum-algorithm": "sha512"},
                 files={"filename": ("my image.iso", data)})
    assert r.status_code == 200, r.text
    upid = r.json()["data"]
    assert upid.split(":")[5:7] == ["imgcopy", ""]
    assert wait(api, upid)["exitstatus"] == "OK"
    log = log_text(api, upid)
    assert log[0].startswith("starting file import from: /var/tmp/pveupload-")
    assert log[1:5] == ["calculating checksum...OK, checksum verified", "target node: pve1",
                        "target file: /var/lib/vz/template/iso/my_image.iso", "file size is: %d" % len(data)]
    assert log[-2:] == ["finished file import successfully", "TASK OK"]
    assert volumes(api, content="iso")["local:iso/my_image.iso"]["size"] == len(data)
    assert not [f for f in os.listdir(pvesim.state_dir) if f.startswith("pveupload-")]
    r = api.post("/nodes/pve1/storage/local/upload", data={"content": "iso", "checksum": "0" * 128,
                                                           "checksum-algorithm": "sha512"},
                 files={"filename": ("bad.iso", data)})
    assert wait(api, r.json()["data"])["exitstatus"] == "checksum mismatch: got '%s' != expect '%s'" % (sha, "0" * 128)
    r = api.post("/nodes/pve1/storage/local/upload", data={"content": "iso"}, files={"file": ("x.iso", b"x")})
    assert r.status_code == 501 and r.reason == "upload failed"
    r = api.post("/nodes/pve1/storage/local/upload", data=iter([b"content=iso"]),
                 headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert r.status_code == 501 and r.reason == "chunked transfer encoding not supported"
    r = api.post("/nodes/pve1/storage/local-lvm/upload", data={"content": "iso"}, files={"filename": ("x.iso", b"x")})
    assert r.status_code == 500 and r.reason == "can't upload to storage type 'lvmthin'"
    assert not [f for f in os.listdir(pvesim.state_dir) if f.startswith("pveupload-")]


def test_aplinfo_catalogue_and_download(api):
    apl = api.ok("GET", "/nodes/pve1/aplinfo")
    debian13 = sorted(a["version"] for a in apl if a["package"] == "debian-13-standard")
    assert debian13 == ["13.1-1", "13.2-1"]
    entry = next(a for a in apl if a["template"] == "debian-13-standard_13.2-1_amd64.tar.zst")
    assert entry["location"] == "http://download.proxmox.com/images/system/" + entry["template"]
    assert (entry["os"], entry["section"], entry["type"], len(entry["sha512sum"])) == ("debian-13", "system", "lxc", 128)
    assert {a["section"] for a in apl} == {"system", "turnkeylinux"}
    upid = api.ok("POST", "/nodes/pve1/aplinfo", data={"storage": "local", "template": entry["template"]})
    assert upid.split(":")[5:7] == ["download", entry["template"]]
    assert wait(api, upid)["exitstatus"] == "OK"
    assert "calculating checksum...OK, checksum verified" in log_text(api, upid)
    vol = volumes(api, content="vztmpl")["local:vztmpl/" + entry["template"]]
    assert vol["format"] == "tzst" and vol["size"] == 256 * 1024
    upid = api.ok("POST", "/nodes/pve1/aplinfo", data={"storage": "local", "template": entry["template"]})
    assert wait(api, upid)["exitstatus"] == "OK"
    assert "calculating checksum of existing file...OK, got correct file already, no need to download" in \
        log_text(api, upid)
    r = api.post("/nodes/pve1/aplinfo", data={"storage": "local", "template": "nope.tar.zst"})
    assert r.status_code == 400 and r.json()["errors"] == {"template": "no such template"}
    r = api.post("/nodes/pve1/aplinfo", data={"storage": "local-lvm", "template": entry["template"]})
    assert r.status_code == 500 and r.reason == "storage 'local-lvm' does not support templates"
    # the catalogue's own file size is answered for its locations
    meta = api.ok("GET", "/nodes/pve1/query-url-metadata", params={"url": entry["location"]})
    assert meta["size"] == 256 * 1024


def test_content_filter_and_delete_task(api):
    assert set(v["content"] for v in volumes(api, content="vztmpl").values()) == {"vztmpl"}
    upid = api.run("DELETE", "/nodes/pve1/storage/local/content/local:vztmpl/debian-13-standard_13.1-1_amd64.tar.zst")
    assert upid.split(":")[5:7] == ["imgdel", "local"]
    assert "Removed volume 'local:vztmpl/debian-13-standard_13.1-1_amd64.tar.zst'" in log_text(api, upid)
    r = api.get("/nodes/pve1/storage/local/content/local:vztmpl/debian-13-standard_13.1-1_amd64.tar.zst")
    assert r.status_code == 500
