"""A small Hub-protocol HTTP server for tests: the stock huggingface_hub client talks to it for real.

It implements the routes huggingface_hub 2.4 uses for what stylehunt does, with the Hub's status
codes and ``X-Error-Code`` headers (which the client turns into ``RepositoryNotFoundError``,
``RevisionNotFoundError``, ``GatedRepoError``, ...):

=======================================================  ==========================================
``POST /api/repos/create``                               create_repo (409 if it exists)
``POST /api/validate-yaml``                              README metadata check before a commit
``GET  /api/whoami-v2``                                  whoami
``GET  /api/agent-harnesses``                            user-agent agent detection (empty registry)
``GET  /api/{type}s/{repo}[/revision/{rev}]``            model_info / repo_info
``GET  /api/{type}s/{repo}/refs``                        list_repo_refs
``GET  /api/{type}s/{repo}/tree/{rev}[/{path}]``         list_repo_tree
``POST /api/{type}s/{repo}/preupload/{rev}``             upload modes
``POST /api/{type}s/{repo}/commit/{rev}``                create_commit (NDJSON); ``?create_pr=1``
                                                         opens a pull request (``pullRequestUrl``)
``POST /api/{type}s/{repo}/tag/{rev}``                   create_tag (409 if it exists)
``GET  /api/models``                                     list_models: ``filter`` (each a tag), ``search``,
                                                         ``author``, ``sort``, ``limit``, ``expand``;
                                                         pages through a ``Link: <...>; rel="next"`` header
``GET  /api/{type}s/{repo}/discussions``                 get_repo_discussions (``type``, ``status``,
                                                         ``author``, page ``p`` of 50)
``HEAD|GET /[{type}s/]{repo}/resolve/{rev}/{path}``      hf_hub_download (``X-Repo-Commit``, ``ETag``,
                                                         ``Content-Length``; LFS files: 302, see below)
``HEAD|GET http://localhost:{port}/lfs-cdn/{sha256}``    the "CDN" an LFS file is redirected to
=======================================================  ==========================================

File sizes are announced as the Hub announces them, so a client can refuse a file before
downloading it: a regular file answers ``HEAD`` with its ``Content-Length``; an LFS file (over
10 MiB, as the Hub requires, or committed with ``lfs=``) answers ``302`` with ``X-Linked-Size``,
``X-Linked-Etag`` (its sha256) and a ``Location`` on another host name (``localhost`` instead of
``127.0.0.1``), which the client does not follow for ``HEAD``. ``HubState.sent`` records the body
bytes of every response, so a test can check how much of a file was served.

Simplifications (all invisible to the client for stylehunt's use): every upload is "regular"
(base64 inside the commit). The real Hub answers "lfs" for binary files such as PNG previews, and
the client then uploads through Xet, which this server does not implement; the client accepts
either answer, so previews travel as regular files here. Commits are linear per branch, and repo
ids are always ``owner/name``.

Model search works as the Hub's: a repo's tags are its model card's ``tags`` plus its
``library_name``, ``license:<id>``, ``base_model:<id>`` and ``base_model:<relation>:<id>``; every
``filter`` must be one of them; ``search`` is a case-insensitive substring of the id; results are
sorted descending. Downloads and likes are whatever a test sets on the :class:`Repo`.

Pull requests work as on the Hub: anyone with a write token may open one on a public repo (no
write access to the repo needed); its branch ``refs/pr/<num>`` starts at ``parentCommit`` (else
``main``) and is readable like any revision (``resolve``, ``revision``), but is not listed in
``refs``. Pull requests and discussions share their numbers. :meth:`HubState.merge_pr` merges one.

Auth mirrors the Hub: no token and a private (or missing) repo -> 401 ``RepoNotFound``; a token and
a missing repo -> 404 ``RepoNotFound``; a gated repo without a grant -> 403 ``GatedRepo`` on file
downloads; writing needs a write token whose user (or org) owns the namespace -> else 403.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import yaml


def git_blob_oid(data: bytes) -> str:
    """The git object id of a blob: what the Hub sends as the ETag of a regular file."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


GITATTRIBUTES = b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n*.bin filter=lfs diff=lfs merge=lfs -text\n"
#: Files above this size are stored with LFS (the Hub refuses larger regular files).
LFS_THRESHOLD = 10 << 20


@dataclass
class Commit:
    oid: str
    parent: str | None
    files: dict[str, bytes]
    title: str
    date: float
    lfs: frozenset[str] = frozenset()  # paths stored with LFS (besides those over LFS_THRESHOLD)


@dataclass
class PullRequest:
    num: int
    title: str
    author: str
    description: str
    base: str  # the commit its branch started from
    head: str  # the commit its branch points at
    created: float
    status: str = "open"  # open, closed, merged


@dataclass
class Repo:
    repo_id: str
    repo_type: str
    private: bool = False
    gated: bool = False
    granted: set[str] = field(default_factory=set)
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    prs: dict[int, PullRequest] = field(default_factory=dict)
    downloads: int = 0
    likes: int = 0
    created: float = field(default_factory=time.time)

    @property
    def owner(self) -> str:
        return self.repo_id.split("/")[0]


class HubError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None, body: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or {}
        self.body = body or {}


class HubState:
    """Repos, tokens and a request log, shared by the handler threads (guarded by one lock)."""

    def __init__(self, base_url: str = ""):
        self.base_url = base_url
        self.repos: dict[tuple[str, str], Repo] = {}
        self.tokens: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []
        self.sent: list[tuple[str, str, int]] = []  # (method, path, body bytes) of every response
        self.lfs_blobs: dict[str, bytes] = {}  # sha256 -> content, served by the "CDN"
        self.user_agents: list[str] = []
        self.queries: list[tuple[str, dict[str, list[str]]]] = []  # (path, query) of every GET with a query
        self.page_size = 1000  # model search results per page, as the Hub's cap
        # A hostile endpoint: per repo id, headers that replace the honest ones on every ``resolve`` answer
        # (HEAD and GET) for that repo, e.g. ``{"alice/evil": {"ETag": '"../../../PWNED"'}}``. Empty: an honest Hub.
        self.resolve_headers: dict[str, dict[str, str]] = {}
        self.lock = threading.RLock()

    # -- helpers for tests ------------------------------------------------------------------------

    def add_token(self, token: str, user: str, *, orgs: tuple[str, ...] = (), write: bool = True) -> None:
        self.tokens[token] = {"user": user, "orgs": tuple(orgs), "write": write}

    def create_repo(self, repo_id: str, *, repo_type: str = "model", private: bool = False, gated: bool = False) -> Repo:
        with self.lock:
            repo = Repo(repo_id=repo_id, repo_type=repo_type, private=private, gated=gated)
            self.repos[(repo_type, repo_id)] = repo
            self._commit(repo, "main", {".gitattributes": GITATTRIBUTES}, [], "initial commit")
            return repo

    def commit_files(
        self,
        repo_id: str,
        files: dict[str, bytes],
        *,
        message: str = "update",
        branch: str = "main",
        repo_type: str = "model",
        lfs: tuple[str, ...] = (),
    ) -> str:
        """Commit directly (no client); paths in ``lfs`` are served as LFS files whatever their size."""
        with self.lock:
            repo = self.repos[(repo_type, repo_id)]
            return self._commit(repo, branch, files, [], message, lfs=lfs)

    def tag(self, repo_id: str, tag: str, revision: str = "main", *, repo_type: str = "model") -> str:
        with self.lock:
            repo = self.repos[(repo_type, repo_id)]
            oid = self._resolve(repo, revision)
            repo.tags[tag] = oid
            return oid

    def files(self, repo_id: str, revision: str = "main", *, repo_type: str = "model") -> dict[str, bytes]:
        with self.lock:
            repo = self.repos[(repo_type, repo_id)]
            return dict(repo.commits[self._resolve(repo, revision)].files)

    def open_pr(self, repo_id: str, files: dict[str, bytes], *, title: str, author: str = "alice", description: str = "") -> int:
        """Open a pull request directly (no client): its branch is main plus ``files``; returns its number."""
        with self.lock:
            repo = self.repos[("model", repo_id)]
            return self._open_pr(repo, title, author, description, repo.branches["main"], files, [])

    def merge_pr(self, repo_id: str, num: int) -> str:
        """Merge pull request ``num`` into main: main gets the files the pull request changed; returns the commit."""
        with self.lock:
            repo = self.repos[("model", repo_id)]
            pr = repo.prs[num]
            base, head = repo.commits[pr.base].files, repo.commits[pr.head].files
            changed = {p: b for p, b in head.items() if base.get(p) != b}
            deleted = [p for p in base if p not in head]
            oid = self._commit(repo, "main", changed, deleted, f"Merge pull request #{num}: {pr.title}")
            pr.status = "merged"
            return oid

    def writes(self) -> list[tuple[str, str]]:
        """Requests that could change server state."""
        return [(m, p) for m, p in self.requests if m in ("POST", "PUT", "DELETE")]

    def bytes_sent(self, fragment: str = "") -> int:
        """Body bytes served in responses to paths containing ``fragment``."""
        with self.lock:
            return sum(n for _, path, n in self.sent if fragment in path)

    # -- internals --------------------------------------------------------------------------------

    def _commit(self, repo: Repo, branch: str, add: dict[str, bytes], delete: list[str], title: str, lfs: tuple[str, ...] = ()) -> str:
        parent = repo.branches.get(branch)
        files = dict(repo.commits[parent].files) if parent else {}
        stored_lfs = set(repo.commits[parent].lfs) if parent else set()
        for path in delete:
            files.pop(path, None)
        files.update(add)
        payload = json.dumps(
            {"parent": parent, "title": title, "files": {p: git_blob_oid(b) for p, b in sorted(files.items())}, "t": time.time_ns()}
        )
        oid = hashlib.sha1(payload.encode()).hexdigest()
        stored_lfs = {p for p in stored_lfs | set(lfs) if p in files} | {p for p, b in add.items() if len(b) > LFS_THRESHOLD}
        for p in stored_lfs & set(add):
            self.lfs_blobs[hashlib.sha256(add[p]).hexdigest()] = add[p]
        repo.commits[oid] = Commit(oid=oid, parent=parent, files=files, title=title, date=time.time(), lfs=frozenset(stored_lfs))
        repo.branches[branch] = oid
        return oid

    def _open_pr(self, repo: Repo, title: str, author: str, description: str, base: str, add: dict[str, bytes], delete: list[str]) -> int:
        num = len(repo.prs) + 1
        ref = f"refs/pr/{num}"
        repo.branches[ref] = base  # committed on as a branch, then kept apart from the listed branches
        head = self._commit(repo, ref, add, delete, title)
        del repo.branches[ref]
        repo.prs[num] = PullRequest(num=num, title=title, author=author, description=description, base=base, head=head, created=time.time())
        return num

    def _resolve(self, repo: Repo, revision: str) -> str:
        m = re.fullmatch(r"refs/pr/(\d+)", revision)
        if m and int(m[1]) in repo.prs:
            return repo.prs[int(m[1])].head
        if revision in repo.branches:
            return repo.branches[revision]
        if revision in repo.tags:
            return repo.tags[revision]
        if re.fullmatch(r"[0-9a-f]{40}", revision) and revision in repo.commits:
            return revision
        raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(ts))


def _card_data(commit: Commit) -> dict[str, Any] | None:
    """The YAML metadata of a commit's README.md, or ``None``."""
    card = commit.files.get("README.md", b"").decode(errors="replace")
    m = re.match(r"---\n(.*?)\n---", card, re.S)
    data = yaml.safe_load(m[1]) if m else None
    return data if isinstance(data, dict) else None


def _hub_tags(card_data: dict[str, Any] | None) -> list[str]:
    """A repo's tags as the Hub derives them from its card: tags, library, license, base model (and relation)."""
    data = card_data or {}
    tags = [str(t) for t in data.get("tags") or []]
    if data.get("library_name"):
        tags.append(str(data["library_name"]))
    if data.get("license"):
        tags.append(f"license:{data['license']}")
    bases = data.get("base_model") or []
    for base in [bases] if isinstance(bases, str) else bases:
        tags.append(f"base_model:{base}")
        if data.get("base_model_relation"):
            tags.append(f"base_model:{data['base_model_relation']}:{base}")
    return list(dict.fromkeys(tags))


class _Handler(BaseHTTPRequestHandler):
    server_version = "FakeHub/1.0"
    state: HubState  # set on the subclass by HubServer

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
        pass

    # -- plumbing ---------------------------------------------------------------------------------

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None, *, head: bool = False) -> None:
        self.send_response(status)
        headers = {"Content-Type": "application/json", **(headers or {})}
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with self.state.lock:  # counted before it is written, so a test that has the answer sees the count
            self.state.sent.append((self.command, urlsplit(self.path).path, 0 if head else len(body)))
        if not head and body:
            self.wfile.write(body)

    def _json(self, status: int, obj: Any) -> None:
        self._send(status, json.dumps(obj).encode())

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _user(self) -> dict[str, Any] | None:
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return None
        token = auth[len("Bearer ") :]
        if token not in self.state.tokens:
            raise HubError(401, "Invalid credentials in Authorization header")
        return self.state.tokens[token]

    def _repo(self, repo_type: str, repo_id: str, *, write: bool = False, download: bool = False) -> Repo:
        user = self._user()
        repo = self.state.repos.get((repo_type, repo_id))
        can_read = repo is not None and (
            not repo.private or (user is not None and repo.owner in (user["user"], *user["orgs"]))
        )
        if not can_read:
            raise HubError(404 if user else 401, "Repository not found", "RepoNotFound")
        assert repo is not None
        if write:
            if user is None or repo.owner not in (user["user"], *user["orgs"]) or not user["write"]:
                raise HubError(403, f"You don't have the rights to write to {repo_id}")
        if download and repo.gated and (user is None or user["user"] not in repo.granted):
            raise HubError(403, f"Access to model {repo_id} is restricted and you are not in the authorized list.", "GatedRepo")
        return repo

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        path, query = url.path, parse_qs(url.query)
        with self.state.lock:
            self.state.requests.append((method, path))
            self.state.user_agents.append(self.headers.get("User-Agent", ""))
            if query:
                self.state.queries.append((path, query))
        try:
            with self.state.lock:
                self._route(method, path, query)
        except HubError as e:
            headers = {"X-Error-Message": e.message, **e.headers}
            if e.code:
                headers["X-Error-Code"] = e.code
            self._send(e.status, json.dumps({"error": e.message, **e.body}).encode(), headers, head=(method == "HEAD"))

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    # -- routes -----------------------------------------------------------------------------------

    _API = re.compile(r"/api/(?P<type>models|datasets|spaces)/(?P<repo>[^/]+/[^/]+)(?P<rest>/.*)?")
    _CDN = re.compile(r"/lfs-cdn/(?P<sha>[0-9a-f]{64})")
    _RESOLVE = re.compile(r"/(?:(?P<type>datasets|spaces)/)?(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)")

    def _route(self, method: str, path: str, query: dict[str, list[str]]) -> None:
        if method == "POST" and path == "/api/repos/create":
            return self._create_repo()
        if method == "POST" and path == "/api/validate-yaml":
            return self._validate_yaml()
        if method == "GET" and path == "/api/agent-harnesses":  # the client's agent detection (user agent)
            return self._json(200, {"standardEnvVars": [], "harnesses": {}})
        if method == "GET" and path == "/api/models":
            return self._search(query)
        if method == "GET" and path == "/api/whoami-v2":
            user = self._user()
            if user is None:
                raise HubError(401, "Invalid credentials in Authorization header")
            role = "write" if user["write"] else "read"
            return self._json(200, {"type": "user", "name": user["user"], "orgs": [{"name": o} for o in user["orgs"]], "auth": {"accessToken": {"role": role}}})
        m = self._CDN.fullmatch(path)
        if m and method in ("GET", "HEAD"):
            return self._cdn(m["sha"], head=(method == "HEAD"))
        m = self._RESOLVE.fullmatch(path)
        if m and method in ("GET", "HEAD"):
            repo_type = (m["type"] or "models")[:-1]
            return self._resolve(repo_type, m["repo"], unquote(m["rev"]), unquote(m["file"]), head=(method == "HEAD"))
        m = self._API.fullmatch(path)
        if m:
            repo_type, repo_id, rest = m["type"][:-1], m["repo"], m["rest"] or ""
            if method == "GET" and (rest == "" or rest.startswith("/revision/")):
                return self._info(repo_type, repo_id, unquote(rest[len("/revision/") :]) if rest else "main")
            if method == "GET" and rest == "/refs":
                return self._refs(repo_type, repo_id)
            if method == "GET" and rest == "/discussions":
                return self._discussions(repo_type, repo_id, query)
            t = re.fullmatch(r"/tree/([^/]+)(?:/(.+))?", rest)
            if method == "GET" and t:
                return self._tree(repo_type, repo_id, unquote(t[1]), unquote(t[2] or ""), query)
            p = re.fullmatch(r"/(preupload|commit|tag)/([^/]+)", rest)
            if method == "POST" and p:
                if p[1] == "tag":
                    return self._tag(repo_type, repo_id, unquote(p[2]))
                create_pr = (query.get("create_pr") or [""])[0] == "1"
                handler = self._preupload if p[1] == "preupload" else self._commit
                return handler(repo_type, repo_id, unquote(p[2]), create_pr)
        raise HubError(404, f"Not found: {method} {path}")

    def _create_repo(self) -> None:
        user = self._user()
        if user is None:
            raise HubError(401, "You must be authenticated to create a repo")
        payload = json.loads(self._body() or b"{}")
        name, org = payload.get("name"), payload.get("organization")
        repo_type = payload.get("type") or "model"
        namespace = org or user["user"]
        if namespace not in (user["user"], *user["orgs"]) or not user["write"]:
            raise HubError(403, f"You don't have the rights to create a {repo_type} under the namespace \"{namespace}\"")
        repo_id = f"{namespace}/{name}"
        prefix = "" if repo_type == "model" else f"{repo_type}s/"
        url = f"{self.state.base_url}/{prefix}{repo_id}"
        if (repo_type, repo_id) in self.state.repos:  # like the Hub, the conflict still says where the repo is
            raise HubError(409, f"You already created this {repo_type} repo", body={"url": url})
        private = payload.get("private") or payload.get("visibility") == "private"
        self.state.create_repo(repo_id, repo_type=repo_type, private=bool(private))
        self._json(200, {"url": url, "name": repo_id, "id": hashlib.sha1(repo_id.encode()).hexdigest()[:24]})

    def _validate_yaml(self) -> None:
        content = json.loads(self._body() or b"{}").get("content", "")
        m = re.match(r"---\n(.*?)\n---", content, re.S)
        errors = []
        if m:
            try:
                meta = yaml.safe_load(m[1])
                if meta is not None and not isinstance(meta, dict):
                    errors.append({"message": "metadata must be a YAML mapping"})
            except yaml.YAMLError as e:
                errors.append({"message": f"invalid YAML: {e}"})
        self._json(400 if errors else 200, {"errors": errors, "warnings": []})

    def _info(self, repo_type: str, repo_id: str, revision: str) -> None:
        repo = self._repo(repo_type, repo_id)
        oid = self.state._resolve(repo, revision)
        commit = repo.commits[oid]
        card_data = _card_data(commit)
        self._json(
            200,
            {
                "_id": hashlib.sha1(repo_id.encode()).hexdigest()[:24],
                "id": repo_id,
                "author": repo.owner,
                "sha": oid,
                "lastModified": _iso(commit.date),
                "private": repo.private,
                "gated": "auto" if repo.gated else False,
                "disabled": False,
                "tags": _hub_tags(card_data),
                "library_name": (card_data or {}).get("library_name"),
                "downloads": repo.downloads,
                "likes": repo.likes,
                "cardData": card_data,
                "siblings": [{"rfilename": p} for p in sorted(commit.files)],
            },
        )

    def _refs(self, repo_type: str, repo_id: str) -> None:
        repo = self._repo(repo_type, repo_id)
        self._json(
            200,
            {
                "branches": [{"name": b, "ref": f"refs/heads/{b}", "targetCommit": o} for b, o in sorted(repo.branches.items())],
                "converts": [],
                "tags": [{"name": t, "ref": f"refs/tags/{t}", "targetCommit": o} for t, o in sorted(repo.tags.items())],
            },
        )

    def _tree(self, repo_type: str, repo_id: str, revision: str, folder: str, query: dict[str, list[str]]) -> None:
        repo = self._repo(repo_type, repo_id)
        files = repo.commits[self.state._resolve(repo, revision)].files
        recursive = (query.get("recursive") or ["false"])[0].lower() in ("1", "true")
        prefix = f"{folder.rstrip('/')}/" if folder else ""
        if folder and not any(p.startswith(prefix) for p in files):
            raise HubError(404, f"{folder} does not exist", "EntryNotFound")
        entries: dict[str, dict[str, Any]] = {}
        for path, data in sorted(files.items()):
            if not path.startswith(prefix):
                continue
            rest = path[len(prefix) :]
            if "/" in rest and not recursive:
                sub = prefix + rest.split("/", 1)[0]
                entries[sub] = {"type": "directory", "oid": hashlib.sha1(sub.encode()).hexdigest(), "size": 0, "path": sub}
                continue
            if recursive:
                parts = rest.split("/")[:-1]
                for i in range(len(parts)):
                    sub = prefix + "/".join(parts[: i + 1])
                    entries[sub] = {"type": "directory", "oid": hashlib.sha1(sub.encode()).hexdigest(), "size": 0, "path": sub}
            entries[path] = {"type": "file", "oid": git_blob_oid(data), "size": len(data), "path": path}
        self._json(200, list(entries.values()))

    def _contributor(self, repo: Repo, revision: str, create_pr: bool) -> dict[str, Any] | None:
        """Who may write here: the owner, or (for a pull request) anyone with a write token; the PR author on its branch."""
        m = re.fullmatch(r"refs/pr/(\d+)", revision)
        if not create_pr and not m:
            return None  # an ordinary write: _repo(write=True) checked it
        user = self._user()
        if user is None or not user["write"]:
            raise HubError(401 if user is None else 403, "You must be logged in with a write token to open a pull request")
        if m and int(m[1]) in repo.prs and repo.prs[int(m[1])].author not in (user["user"], repo.owner):
            raise HubError(403, f"You cannot push to pull request #{m[1]} of {repo.repo_id}")
        return user

    def _writable(self, repo_type: str, repo_id: str, revision: str, create_pr: bool) -> tuple[Repo, dict[str, Any] | None]:
        to_pr = create_pr or re.fullmatch(r"refs/pr/\d+", revision) is not None
        repo = self._repo(repo_type, repo_id, write=not to_pr)
        return repo, self._contributor(repo, revision, create_pr)

    def _preupload(self, repo_type: str, repo_id: str, revision: str, create_pr: bool = False) -> None:
        repo, _ = self._writable(repo_type, repo_id, revision, create_pr)
        head = self.state._resolve(repo, revision)
        files = repo.commits[head].files
        payload = json.loads(self._body() or b"{}")
        out = [
            {
                "path": f["path"],
                "uploadMode": "regular",
                "shouldIgnore": False,
                "oid": git_blob_oid(files[f["path"]]) if f["path"] in files else None,
            }
            for f in payload.get("files", [])
        ]
        self._json(200, {"files": out, "commitOid": head})

    def _commit(self, repo_type: str, repo_id: str, revision: str, create_pr: bool = False) -> None:
        repo, user = self._writable(repo_type, repo_id, revision, create_pr)
        pr_match = re.fullmatch(r"refs/pr/(\d+)", revision)
        if revision not in repo.branches and not (pr_match and int(pr_match[1]) in repo.prs):
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        if self.headers.get("Content-Type", "").split(";")[0] != "application/x-ndjson":
            raise HubError(400, "expected application/x-ndjson")
        header, add, delete = None, {}, []
        for line in self._body().splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            key, value = item.get("key"), item.get("value", {})
            if key == "header":
                header = value
            elif key == "file":
                if value.get("encoding") != "base64":
                    raise HubError(400, "only base64 file content is supported")
                add[value["path"]] = base64.b64decode(value["content"])
            elif key in ("deletedFile", "deletedFolder"):
                delete.append(value["path"])
            else:
                raise HubError(400, f"unsupported commit operation {key!r} (this server has no LFS storage)")
        if header is None or not header.get("summary"):
            raise HubError(400, "missing commit header")
        parent = header.get("parentCommit")
        prefix = "" if repo_type == "model" else f"{repo_type}s/"
        url = f"{self.state.base_url}/{prefix}{repo_id}"
        if create_pr:  # the branch starts at parentCommit (else the revision's head)
            assert user is not None
            if parent and parent not in repo.commits:
                raise HubError(400, f"Invalid parent commit: {parent}")
            base = parent or self.state._resolve(repo, revision)
            num = self.state._open_pr(repo, header["summary"], user["user"], header.get("description", ""), base, add, delete)
            oid = repo.prs[num].head
            return self._json(200, {"success": True, "commitOid": oid, "commitUrl": f"{url}/commit/{oid}",
                                    "pullRequestUrl": f"{url}/discussions/{num}", "hookOutput": ""})
        if pr_match:  # another commit on a pull request's branch
            pr = repo.prs[int(pr_match[1])]
            if parent and parent != pr.head:
                raise HubError(412, "A commit has happened since. Please refresh and try again.")
            repo.branches[revision] = pr.head
            pr.head = self.state._commit(repo, revision, add, delete, header["summary"])
            del repo.branches[revision]
            return self._json(200, {"success": True, "commitOid": pr.head, "commitUrl": f"{url}/commit/{pr.head}", "hookOutput": ""})
        if parent and parent != repo.branches[revision]:
            raise HubError(412, "A commit has happened since. Please refresh and try again.")
        oid = self.state._commit(repo, revision, add, delete, header["summary"])
        self._json(200, {"success": True, "commitOid": oid, "commitUrl": f"{url}/commit/{oid}", "hookOutput": ""})

    def _search(self, query: dict[str, list[str]]) -> None:
        """``GET /api/models``: as the Hub answers ``HfApi.list_models`` (only ``expand``ed properties, when given)."""
        user = self._user()
        filters = query.get("filter", [])
        search = (query.get("search") or [""])[0].lower()
        author = (query.get("author") or [None])[0]
        sort = (query.get("sort") or [None])[0]
        limit = int((query.get("limit") or [self.state.page_size])[0])
        start = int((query.get("cursor") or ["0"])[0])
        expand = query.get("expand")
        if sort not in (None, "downloads", "likes", "lastModified", "createdAt", "trendingScore"):
            raise HubError(400, f"Invalid sort parameter: {sort}")
        rows = []
        for (repo_type, repo_id), repo in self.state.repos.items():
            if repo_type != "model" or (repo.private and (user is None or repo.owner not in (user["user"], *user["orgs"]))):
                continue
            head = repo.commits[repo.branches["main"]]
            card_data = _card_data(head)
            tags = _hub_tags(card_data)
            if not all(f in tags for f in filters) or search not in repo_id.lower() or author not in (None, repo.owner):
                continue
            rows.append({
                "_id": hashlib.sha1(repo_id.encode()).hexdigest()[:24], "id": repo_id, "modelId": repo_id,
                "author": repo.owner, "sha": head.oid, "lastModified": _iso(head.date), "createdAt": _iso(repo.created),
                "private": repo.private, "gated": "auto" if repo.gated else False, "downloads": repo.downloads,
                "likes": repo.likes, "trendingScore": 0, "tags": tags, "library_name": (card_data or {}).get("library_name"),
            })
        key = {"downloads": "downloads", "likes": "likes", "lastModified": "lastModified", "createdAt": "createdAt"}.get(sort or "")
        if key:
            rows.sort(key=lambda r: r[key], reverse=True)
        size = min(limit, self.state.page_size)
        page = rows[start : min(start + size, limit)]
        if expand:
            page = [{k: v for k, v in r.items() if k in ("_id", "id", *expand)} for r in page]
        headers = {}
        if start + size < len(rows) and start + size < limit:  # the Hub pages with a Link header, as GitHub does
            rest = [(k, v) for k, vs in query.items() if k != "cursor" for v in vs]
            rest.append(("cursor", str(start + size)))
            headers["Link"] = f'<{self.state.base_url}/api/models?{urlencode(rest)}>; rel="next"'
        self._send(200, json.dumps(page).encode(), headers)

    def _discussions(self, repo_type: str, repo_id: str, query: dict[str, list[str]]) -> None:
        """``GET .../discussions``: pull requests (the only discussions here), newest first, 50 a page."""
        repo = self._repo(repo_type, repo_id)
        kind = (query.get("type") or ["all"])[0]
        status = (query.get("status") or ["all"])[0]
        author = (query.get("author") or [None])[0]
        page_index = int((query.get("p") or ["0"])[0])
        prs = [
            pr for pr in sorted(repo.prs.values(), key=lambda pr: pr.num, reverse=True)
            if kind in ("all", "pull_request")
            and (status == "all" or pr.status == status or (status == "closed" and pr.status == "merged"))
            and author in (None, pr.author)
        ]
        start = page_index * 50
        items = [
            {"num": pr.num, "title": pr.title, "status": pr.status, "isPullRequest": True, "createdAt": _iso(pr.created),
             "author": {"name": pr.author}, "repo": {"name": repo.repo_id, "type": repo.repo_type}, "numComments": 1,
             "pinned": False, "topReactions": []}
            for pr in prs[start : start + 50]
        ]
        closed = sum(1 for pr in repo.prs.values() if pr.status != "open")
        self._json(200, {"discussions": items, "count": len(prs), "start": start, "numClosedDiscussions": closed})

    def _tag(self, repo_type: str, repo_id: str, revision: str) -> None:
        repo = self._repo(repo_type, repo_id, write=True)
        oid = self.state._resolve(repo, revision)
        tag = json.loads(self._body() or b"{}").get("tag")
        if not tag:
            raise HubError(400, "missing tag")
        if tag in repo.tags or tag in repo.branches:
            raise HubError(409, f"Tag {tag} already exists")
        repo.tags[tag] = oid
        self._json(200, {})

    def _resolve(self, repo_type: str, repo_id: str, revision: str, filename: str, *, head: bool) -> None:
        repo = self._repo(repo_type, repo_id, download=True)
        oid = self.state._resolve(repo, revision)
        files = repo.commits[oid].files
        if filename not in files:
            raise HubError(404, "Entry not found", "EntryNotFound", {"X-Repo-Commit": oid})
        data = files[filename]
        if filename in repo.commits[oid].lfs:
            # As the Hub: the metadata is on the redirect itself; the bytes come from another host.
            sha = hashlib.sha256(data).hexdigest()
            port = self.server.server_address[1]
            headers = {
                "X-Repo-Commit": oid,
                "X-Linked-Etag": f'"{sha}"',
                "X-Linked-Size": str(len(data)),
                "ETag": f'"{git_blob_oid(data)}"',
                "Location": f"http://localhost:{port}/lfs-cdn/{sha}",
                **self.state.resolve_headers.get(repo_id, {}),
            }
            return self._send(302, b"", headers, head=head)
        headers = {
            "Content-Type": "application/octet-stream",
            "X-Repo-Commit": oid,
            "ETag": f'"{git_blob_oid(data)}"',
            "Accept-Ranges": "bytes",
            **self.state.resolve_headers.get(repo_id, {}),
        }
        self._send(200, data, headers, head=head)

    def _cdn(self, sha: str, *, head: bool) -> None:
        if sha not in self.state.lfs_blobs:
            raise HubError(404, "Entry not found")
        self._send(200, self.state.lfs_blobs[sha], {"Content-Type": "application/octet-stream", "ETag": f'"{sha}"'}, head=head)


class HubServer:
    """Runs :class:`HubState` behind a ThreadingHTTPServer on 127.0.0.1 (a free port), in a thread."""

    def __init__(self) -> None:
        self.state = HubState()
        handler = type("Handler", (_Handler,), {"state": self.state})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.state.base_url = self.url
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-hub", daemon=True
        )

    def __enter__(self) -> "HubServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)
