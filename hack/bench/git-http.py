#!/usr/bin/env python3
"""Serves the repositories under a directory over Git's smart HTTP protocol,
read-only, on 127.0.0.1, by running `git http-backend` (CGI) per request.

    git-http.py ROOT PORT_FILE

Binds a free port on 127.0.0.1 and writes it to PORT_FILE once listening.
Flux's GitRepository accepts only http(s):// and ssh:// URLs, so the Flux
benchmark needs this next to `git daemon`. Only fetches are served
(git-upload-pack); request bodies are capped at 64 MiB; each backend run is
bounded to 120 s.

Standard library only.
"""

import http.server
import os
import subprocess
import sys
import urllib.parse

MAX_BODY = 64 << 20
BACKEND_TIMEOUT = 120


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    root = "."

    def log_message(self, fmt, *args):
        sys.stderr.write("git-http: " + (fmt % args) + "\n")

    def do_GET(self):
        self.backend(b"")

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0 or length > MAX_BODY:
            self.fail(413, "request body too large")
            return
        self.backend(self.rfile.read(length))

    def fail(self, code, message):
        body = (message + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def backend(self, body):
        path, _, query = self.path.partition("?")
        path = urllib.parse.unquote(path)
        # Fetches only: no receive-pack, no path outside the root.
        if "receive-pack" in path or "receive-pack" in query or ".." in path.split("/"):
            self.fail(403, "read-only")
            return
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": self.root,
            "GIT_HTTP_EXPORT_ALL": "1",
            "GIT_CONFIG_NOSYSTEM": "1",
            "HOME": self.root,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "REQUEST_METHOD": self.command,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": self.client_address[0],
        }
        if self.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        try:
            out = subprocess.run(["git", "http-backend"], input=body, env=env,
                                 capture_output=True, timeout=BACKEND_TIMEOUT, check=False).stdout
        except subprocess.TimeoutExpired:
            self.fail(504, "git http-backend timed out")
            return
        head, _, payload = out.partition(b"\r\n\r\n")
        if not _:
            head, _, payload = out.partition(b"\n\n")
        status, headers = 200, []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                headers.append((name.strip(), value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def main():
    root, port_file = os.path.abspath(sys.argv[1]), sys.argv[2]
    Handler.root = root
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(port_file + ".tmp", "w", encoding="utf-8") as f:
        f.write(str(server.server_address[1]))
    os.replace(port_file + ".tmp", port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
