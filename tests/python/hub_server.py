"""A local stand-in for the ModelScope hub (REFERENCE.md section 7), for tests/python/check_hub.py.

It checks what a real hub would refuse (the m_session_id cookie, LFS object sizes and sha256, commits that
reference objects never uploaded, malformed requests) and keeps what was uploaded in memory, so the test
can compare stored bytes with the source. `fail_once` makes the first request matching a (method, path
prefix) answer 500, to exercise retries.
"""
import base64
import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse


class HubState:
    def __init__(self, token):
        self.token = token
        self.repos = {}        # (kind, "owner/name") -> {"files": {path: bytes}, "visibility": int, "commits": [...]}
        self.objects = {}      # sha256 -> bytes
        self.requests = []     # (method, path, status)
        self.fail_once = set()  # (method, path prefix)
        self.lock = threading.RLock()


def envelope(code, message="", data=None):
    return {"Code": code, "Success": code == 200, "Message": message, "Data": data}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    @property
    def state(self):
        return self.server.state

    def reply(self, status, payload):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        with self.state.lock:
            self.state.requests.append((self.command, urlparse(self.path).path, status))

    def body(self):
        length = int(self.headers.get("Content-Length", "0"))
        return self.rfile.read(length) if length else b""

    def authorised(self):
        cookies = dict(part.strip().split("=", 1) for part in self.headers.get("Cookie", "").split(";") if "=" in part)
        return cookies.get("m_session_id") == self.state.token

    def handle_any(self):
        path = urlparse(self.path).path
        data = self.body()
        with self.state.lock:
            for key in list(self.state.fail_once):
                if key[0] == self.command and path.startswith(key[1]):
                    self.state.fail_once.discard(key)
                    return self.reply(500, envelope(500, "injected failure"))
        if not self.authorised():
            return self.reply(401, envelope(401, "invalid or missing m_session_id"))
        if self.command == "POST" and path == "/api/v1/login":
            request = json.loads(data)
            if request.get("AccessToken") != self.state.token:
                return self.reply(401, envelope(401, "bad access token"))
            return self.reply(200, envelope(200, "", {"Username": "tester"}))
        match = re.fullmatch(r"/api/v1/(models|datasets)/([^/]+)/([^/]+)", path)
        if self.command == "GET" and match:
            key = (match[1][:-1], f"{match[2]}/{match[3]}")
            return self.reply(200 if key in self.state.repos else 404, envelope(200 if key in self.state.repos else 404))
        if self.command == "POST" and path == "/api/v1/models":
            request = json.loads(data)
            return self.create("model", request["Path"], request["Name"], int(request["Visibility"]))
        if self.command == "POST" and path == "/api/v1/datasets":
            boundary = self.headers["Content-Type"].split("boundary=")[1].encode()
            fields = {}
            for part in data.split(b"--" + boundary):
                found = re.search(rb'name="([^"]+)"\r\n\r\n(.*)\r\n$', part, re.S)
                if found:
                    fields[found[1].decode()] = found[2].decode()
            return self.create("dataset", fields["Owner"], fields["Name"], int(fields["Visibility"]))
        match = re.fullmatch(r"/api/v1/repos/(models|datasets)/([^/]+)/([^/]+)/info/lfs/objects/batch", path)
        if self.command == "POST" and match:
            request = json.loads(data)
            if request.get("operation") != "upload":
                return self.reply(400, envelope(400, "operation must be upload"))
            port = self.server.server_address[1]
            objects = []
            for item in request["objects"]:
                answer = {"oid": item["oid"], "size": item["size"]}
                if item["oid"] not in self.state.objects:
                    answer["actions"] = {"upload": {
                        "href": f"http://127.0.0.1:{port}/lfs/{item['oid']}?size={item['size']}&signature=s3cr3t",
                        "header": {"X-Lfs-Ticket": "ticket-1"}}}
                objects.append(answer)
            return self.reply(200, {"objects": objects})
        match = re.fullmatch(r"/lfs/([0-9a-f]{64})", path)
        if self.command == "PUT" and match:
            size = int(re.search(r"size=(\d+)", self.path)[1])
            if self.headers.get("X-Lfs-Ticket") != "ticket-1":
                return self.reply(403, envelope(403, "missing upload ticket header"))
            if len(data) != size or hashlib.sha256(data).hexdigest() != match[1]:
                return self.reply(400, envelope(400, "object does not match its oid or size"))
            with self.state.lock:
                self.state.objects[match[1]] = data
            return self.reply(200, envelope(200))
        match = re.fullmatch(r"/api/v1/repos/(models|datasets)/([^/]+)/([^/]+)/commit/([^/]+)", path)
        if self.command == "POST" and match:
            key = (match[1][:-1], f"{match[2]}/{match[3]}")
            if key not in self.state.repos:
                return self.reply(404, envelope(404, "no such repository"))
            request = json.loads(data)
            files = {}
            for action in request["actions"]:
                if action.get("action") != "create" or not action.get("path"):
                    return self.reply(400, envelope(400, f"bad action {action}"))
                if action["type"] == "lfs":
                    blob = self.state.objects.get(action["sha256"])
                    if blob is None or len(blob) != action["size"]:
                        return self.reply(400, envelope(400, f"LFS object of {action['path']} was not uploaded"))
                    files[action["path"]] = blob
                elif action["type"] == "normal" and action.get("encoding") == "base64":
                    files[action["path"]] = base64.b64decode(action["content"])
                else:
                    return self.reply(400, envelope(400, f"bad action type {action}"))
            with self.state.lock:
                self.state.repos[key]["files"].update(files)
                self.state.repos[key]["commits"].append(request.get("commit_message"))
            return self.reply(200, envelope(200))
        return self.reply(404, envelope(404, f"no route {self.command} {path}"))

    def create(self, kind, owner, name, visibility):
        with self.state.lock:
            self.state.repos[(kind, f"{owner}/{name}")] = {"files": {}, "visibility": visibility, "commits": []}
        return self.reply(200, envelope(200))

    do_GET = do_POST = do_PUT = handle_any


def start(token):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.state = HubState(token)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
