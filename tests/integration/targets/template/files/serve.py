"""The web server of the template target: serves a directory over HTTP on 127.0.0.1 (port written to a file).

Files under /held/ send their first half, then wait until a file named `release` appears in the directory,
so a test can keep a download in flight as long as it needs.
"""

import http.server
import os
import sys
import time

ROOT = sys.argv[1]


class Handler(http.server.BaseHTTPRequestHandler):
    def _file(self):
        name = self.path.split("?", 1)[0].lstrip("/")
        held = name.startswith("held/")
        if held:
            name = name[len("held/"):]
        path = os.path.join(ROOT, name)
        if "/" in name or not os.path.isfile(path):
            self.send_error(404, "Not Found")
            return None, held
        self.send_response(200)
        self.send_header("Content-Length", str(os.path.getsize(path)))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        return path, held

    def do_HEAD(self):
        self._file()

    def do_GET(self):
        path, held = self._file()
        if path is None:
            return
        with open(path, "rb") as fh:
            data = fh.read()
        self.wfile.write(data[:len(data) // 2])
        self.wfile.flush()
        while held and not os.path.exists(os.path.join(ROOT, "release")):
            time.sleep(0.05)
        self.wfile.write(data[len(data) // 2:])

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
with open(sys.argv[2], "w") as fh:
    fh.write(str(server.server_address[1]))
server.serve_forever()
