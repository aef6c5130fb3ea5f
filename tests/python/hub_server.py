"""A local stand-in for the ModelScope hub (REFERENCE.md section 7) and for the Hugging Face hub's download
routes, for tests/python/check_hub.py and check_hub_download.py.

Uploads: it checks what a real hub would refuse (the m_session_id cookie, LFS object sizes and sha256, commits
that reference objects never uploaded, malformed requests) and keeps what was uploaded in memory, so the test
can compare stored bytes with the source. `fail_once` makes the first request matching a (method, path
prefix) answer 500, to exercise retries.

Downloads (the routes `modelscope download` and huggingface_hub use; add_repo puts a repository in place):
ModelScope's repository lookup, model file list, dataset tree (paged), file routes; Hugging Face's revision,
tree (paged through the Link header) and resolve routes. Files honour Range requests. A private repository
answers 401 without the token (ModelScope's cookie, Hugging Face's Bearer header). Faults for the tests:
`cut_once` (paths whose next GET sends half the bytes and drops the connection), `corrupt` (path -> how many
GETs answer with one byte flipped), `rate` (bytes per second for file bodies). `served` records every file GET:
(hub, path, Range header, bytes sent).
"""
import base64
import hashlib
import json
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse

COMMIT = "3f6d1c0e9b8a7d6c5b4a39281706f5e4d3c2b1a0"
LFS_SUFFIXES = (".safetensors", ".bin", ".gguf", ".jsonl")


class HubState:
    def __init__(self, token):
        self.token = token
        self.repos = {}        # (kind, "owner/name") -> {"files": {path: bytes}, "visibility": int, "commits": [...]}
        self.objects = {}      # sha256 -> bytes
        self.requests = []     # (method, path, status)
        self.fail_once = set()  # (method, path prefix)
        self.lock = threading.RLock()
        self.dataset_ids = {}  # "owner/name" -> the numeric id ModelScope gives a dataset
        self.served = []       # (hub, path in repository, Range header, bytes sent)
        self.cut_once = set()  # paths in repository
        self.corrupt = {}      # path in repository -> GETs left to corrupt
        self.rate = None       # bytes per second for file bodies
        self.tree_page = 3     # entries per page of Hugging Face's tree listing
        self.revisions = {"master", "main", "v1.0"}  # branch and tag names the repositories answer to (same files)
        self.queries = []      # every request's path with its query


def add_repo(state, kind, repo_id, files, private=False):
    """Puts a repository with `files` ({path: bytes}) on the hub; kind is "model" or "dataset"."""
    with state.lock:
        state.repos[(kind, repo_id)] = {"files": dict(files), "visibility": 1 if private else 5, "commits": []}
        if kind == "dataset":
            state.dataset_ids[repo_id] = 1000 + len(state.dataset_ids)


def git_blob_sha1(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def envelope(code, message="", data=None):
    return {"Code": code, "Success": code == 200, "Message": message, "Data": data}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    @property
    def state(self):
        return self.server.state

    def reply(self, status, payload, headers=None):
        body = json.dumps(payload).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        with self.state.lock:
            self.state.requests.append((self.command, urlparse(self.path).path, status))
            self.state.queries.append(self.path)

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
        if self.command == "GET" and self.download_route(path):
            return
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

    # ---- downloads ----

    def bearer_ok(self):
        return self.headers.get("Authorization", "") == f"Bearer {self.state.token}"

    def repo_for(self, kind, repo_id, hf):
        """The repository, or None after answering 404/401."""
        repo = self.state.repos.get((kind, repo_id))
        if repo is None:
            self.reply(404, {"error": "Repository not found"} if hf else envelope(404, "repository not found"))
            return None
        if repo["visibility"] == 1 and not (self.bearer_ok() if hf else self.authorised()):
            self.reply(401, {"error": "Invalid credentials"} if hf else envelope(401, "private repository"))
            return None
        return repo

    def ms_entries(self, repo):
        return [{"Name": p.rsplit("/", 1)[-1], "Path": p, "Type": "blob", "Size": len(b), "IsLFS": p.endswith(LFS_SUFFIXES),
                 "Sha256": hashlib.sha256(b).hexdigest(), "Revision": COMMIT, "Mode": "33188"}
                for p, b in sorted(repo["files"].items())]

    def download_route(self, path):
        """Answers a download route; False when `path` is none of them."""
        query = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
        if path == "/__served":  # for tests that run the hub in another process (tests/cluster/hub_serve.py)
            with self.state.lock:
                return self.reply(200, [list(entry) for entry in self.state.served]) or True
        match = re.fullmatch(r"/api/v1/(models|datasets)/([^/]+)/([^/]+)", path)
        if match:
            if "m_session_id" in self.headers.get("Cookie", "") and not self.authorised():
                return False  # the upload client's lookup with a wrong token: refused as before
            repo_id = f"{match[2]}/{match[3]}"
            repo = self.repo_for(match[1][:-1], repo_id, False)
            if repo is not None:
                self.reply(200, envelope(200, "", {"Id": self.state.dataset_ids.get(repo_id, 7), "Type": 4, "Path": match[2],
                                                   "Name": match[3]}))
            return True
        match = re.fullmatch(r"/api/v1/models/([^/]+)/([^/]+)/repo/files", path)
        if match:
            repo = self.repo_for("model", f"{match[1]}/{match[2]}", False)
            if repo is not None:
                if query.get("Revision") not in self.state.revisions or query.get("Recursive") != "True":
                    return self.reply(400, envelope(400, f"unexpected query {query}")) or True
                self.reply(200, envelope(200, "", {"Files": self.ms_entries(repo)}))
            return True
        match = re.fullmatch(r"/api/v1/datasets/(\d+)/repo/tree", path)
        if match:
            repo_id = next((r for r, i in self.state.dataset_ids.items() if str(i) == match[1]), None)
            repo = self.repo_for("dataset", repo_id, False)
            if repo is not None:
                number, size = int(query.get("PageNumber", "1")), int(query.get("PageSize", "100"))
                entries = self.ms_entries(repo)[(number - 1) * size:number * size]
                self.reply(200, envelope(200, "", {"Files": entries}))
            return True
        match = re.fullmatch(r"/api/v1/(models|datasets)/([^/]+)/([^/]+)/repo", path)
        if match:
            repo = self.repo_for(match[1][:-1], f"{match[2]}/{match[3]}", False)
            if repo is not None:
                self.send_file("modelscope", repo, query.get("FilePath", ""))
            return True
        match = re.fullmatch(r"/api/(models|datasets)/([^/]+)/([^/]+)/revision/([^/]+)", path)
        if match:
            repo = self.repo_for(match[1][:-1], f"{match[2]}/{match[3]}", True)
            if repo is not None:
                if unquote(match[4]) not in self.state.revisions | {COMMIT}:
                    return self.reply(404, {"error": "Revision not found"}) or True
                self.reply(200, {"id": f"{match[2]}/{match[3]}", "sha": COMMIT,
                                 "siblings": [{"rfilename": p} for p in sorted(repo["files"])]})
            return True
        match = re.fullmatch(r"/api/(models|datasets)/([^/]+)/([^/]+)/tree/([^/]+)", path)
        if match:
            repo = self.repo_for(match[1][:-1], f"{match[2]}/{match[3]}", True)
            if repo is not None:
                entries = []
                for p, b in sorted(repo["files"].items()):
                    entry = {"type": "file", "path": p, "size": len(b), "oid": git_blob_sha1(b)}
                    if p.endswith(LFS_SUFFIXES):
                        entry["lfs"] = {"oid": hashlib.sha256(b).hexdigest(), "size": len(b), "pointerSize": 134}
                    entries.append(entry)
                start = int(query.get("cursor", "0"))
                page = entries[start:start + self.state.tree_page]
                headers = {}
                if start + self.state.tree_page < len(entries):
                    port = self.server.server_address[1]
                    headers["Link"] = (f"<http://127.0.0.1:{port}{path}?recursive=true&expand=false&cursor="
                                       f"{start + self.state.tree_page}>; rel=\"next\"")
                self.reply(200, page, headers)
            return True
        match = re.fullmatch(r"/(datasets/)?([^/]+)/([^/]+)/resolve/([^/]+)/(.+)", path)
        if match:
            repo = self.repo_for("dataset" if match[1] else "model", f"{match[2]}/{match[3]}", True)
            if repo is not None:
                if match[4] != COMMIT:
                    return self.reply(404, {"error": "Revision not found"}) or True
                self.send_file("huggingface", repo, unquote(match[5]))
            return True
        return False

    def send_file(self, hub, repo, name):
        data = repo["files"].get(name)
        if data is None:
            return self.reply(404, envelope(404, f"no file {name}"))
        with self.state.lock:
            cut = name in self.state.cut_once
            self.state.cut_once.discard(name)
            corrupt = self.state.corrupt.get(name, 0) > 0
            if corrupt:
                self.state.corrupt[name] -= 1
        if corrupt:
            data = data[:len(data) // 2] + bytes([data[len(data) // 2] ^ 0xFF]) + data[len(data) // 2 + 1:]
        wanted = self.headers.get("Range", "")
        start, end = 0, len(data) - 1
        found = re.fullmatch(r"bytes=(\d+)-(\d*)", wanted)
        if found:
            start = int(found[1])
            end = min(int(found[2]), len(data) - 1) if found[2] else len(data) - 1
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        body = data[start:end + 1]
        self.send_response(206 if found else 200)
        if found:
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        sent = 0
        limit = len(body) // 2 if cut else len(body)
        try:
            while sent < limit:
                chunk = body[sent:min(limit, sent + 16384)]
                self.wfile.write(chunk)
                sent += len(chunk)
                if self.state.rate:
                    time.sleep(len(chunk) / self.state.rate)
            if cut:
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        with self.state.lock:
            self.state.served.append((hub, name, wanted, sent))

    def create(self, kind, owner, name, visibility):
        with self.state.lock:
            self.state.repos[(kind, f"{owner}/{name}")] = {"files": {}, "visibility": visibility, "commits": []}
        return self.reply(200, envelope(200))

    do_GET = do_POST = do_PUT = handle_any


def start(token, host="127.0.0.1"):
    server = ThreadingHTTPServer((host, 0), Handler)
    server.state = HubState(token)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
