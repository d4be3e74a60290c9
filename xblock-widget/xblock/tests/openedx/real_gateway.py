"""The real IBAL gateway for the contract tests: the ``ibal-gateway`` binary (``IBAL_GATEWAY_BIN``, by default
the workspace's ``target/debug/ibal-gateway``; ``scripts/test.sh`` builds it) serving on a free local port, with a
temporary SQLite database and the service client registered the way the Tutor plugin does it
(``ibal-gateway clients ensure … --secret-env``).

It trusts chat tickets of a test LMS, so a learner can be signed in (and then retired) for real, and it reads its
own database (SQLite, read only) to show what the gateway stored: the course index and a learner's rows.
"""

from __future__ import annotations

import json
import os
import queue
import secrets
import shutil
import sqlite3
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections import defaultdict
from pathlib import Path

import jwt
from jwt.algorithms import RSAAlgorithm

from tests.helpers import rsa_pem

REPOSITORY = Path(__file__).resolve().parents[4]
PUBLIC_URL = "http://gateway.test"
TICKET_KEY_ID = "contract-tests"


def gateway_binary() -> Path:
    """``IBAL_GATEWAY_BIN``, or the workspace's debug build."""
    path = Path(os.environ.get("IBAL_GATEWAY_BIN") or REPOSITORY / "target" / "debug" / "ibal-gateway")
    if not os.access(path, os.X_OK):
        raise RuntimeError(
            f"no gateway binary at {path}: run `cargo build -p ibal-gateway` (scripts/test.sh does) "
            "or set IBAL_GATEWAY_BIN"
        )
    return path


class RealGateway:
    """One ``ibal-gateway serve`` process for the test session."""

    def __init__(self, client_id: str, client_secret: str, lms_root_url: str):
        self.client_id = client_id
        self.client_secret = client_secret
        self.lms_root_url = lms_root_url
        self.binary = gateway_binary()
        self.dir = Path(tempfile.mkdtemp(prefix="ibal-gateway-"))
        self.database = self.dir / "ibal.db"
        _, key = rsa_pem()
        self._ticket_key = key
        jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
        jwk.update({"kid": TICKET_KEY_ID, "use": "sig", "alg": "RS256"})
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "DATABASE_URL": f"sqlite://{self.database}",
            "SECRET_KEY": secrets.token_hex(32),
            "BIND_ADDR": "127.0.0.1:0",
            "PUBLIC_URL": PUBLIC_URL,
            "LOG_FORMAT": "json",
            "RUST_LOG": "info",
            "TICKET_ISSUER": lms_root_url,
            "TICKET_JWKS": json.dumps({"keys": [jwk]}),
        }
        self._ensure_service_client()
        self._process = subprocess.Popen(
            [str(self.binary), "serve"],
            env=self.env,
            cwd=self.dir,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.url = self._wait_listening()

    def _ensure_service_client(self) -> None:
        """``clients ensure`` with the exact arguments of the Tutor plugin's init task (tutorllm/…/tasks/llm/init)."""
        done = subprocess.run(
            [
                str(self.binary),
                "clients",
                "ensure",
                "--client-id",
                self.client_id,
                "--secret-env",
                "IBAL_SERVICE_CLIENT_SECRET",
                "--name",
                "Open edX course indexing and retirement",
                "--grant",
                "client_credentials",
                "--scope",
                "index",
                "--scope",
                "retirement",
            ],
            env={**self.env, "IBAL_SERVICE_CLIENT_SECRET": self.client_secret},
            cwd=self.dir,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"ibal-gateway clients ensure failed: {done.stderr.strip()}")

    def _wait_listening(self) -> str:
        lines: queue.Queue[str | None] = queue.Queue()

        def drain() -> None:
            # Read every line (so the gateway never blocks on a full pipe); hand them over until it listens.
            assert self._process.stdout is not None
            for line in self._process.stdout:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=drain, daemon=True).start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                raise RuntimeError(f"ibal-gateway exited with {self._process.wait()} before listening")
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("message") == "listening":
                return f"http://{event['addr']}"
        self.stop()
        raise RuntimeError("ibal-gateway did not listen within 30 s")

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    # ------------------------------------------------------------ the database

    def _query(self, sql: str, *params: object) -> list[tuple]:
        with sqlite3.connect(f"file:{self.database}?mode=ro", uri=True) as db:
            return db.execute(sql, params).fetchall()

    def reset(self) -> None:
        """Empty the course index and forget every user: each test starts from a fresh gateway's state."""
        with sqlite3.connect(self.database, timeout=10) as db:
            db.execute("PRAGMA foreign_keys = ON")
            for table in ("course_blocks", "course_index", "sessions", "users"):
                db.execute(f"DELETE FROM {table}")

    @property
    def index(self) -> dict[str, dict[str, dict]]:
        """The course index as stored, course id → usage id → the block in the contract's shape."""
        index: dict[str, dict[str, dict]] = defaultdict(dict)
        rows = self._query(
            "SELECT course_id, usage_id, block_type, display_name, breadcrumb, text_content, start_date, staff_only, "
            "group_access, url, ordinal, content_hash FROM course_blocks ORDER BY course_id, ordinal"
        )
        for course, usage, kind, name, crumbs, text, start, staff, groups, url, position, digest in rows:
            index[course][usage] = {
                "usage_id": usage,
                "block_type": kind,
                "display_name": name,
                "breadcrumb": json.loads(crumbs),
                "text": text,
                "start": start,
                "staff_only": bool(staff),
                "group_access": json.loads(groups),
                "url": url,
                "position": position,
                "hash": digest,
            }
        return index

    @property
    def course_titles(self) -> dict[str, str]:
        return dict(self._query("SELECT course_id, course_title FROM course_index"))

    # ------------------------------------------------------------ learners

    def sign_in_learner(self, username: str, lms_user_id: int, course_id: str) -> None:
        """The learner opens the chat in a course: the LMS's chat ticket signs them in at the gateway."""
        now = int(time.time())
        claims = {
            "iss": self.lms_root_url,
            "aud": PUBLIC_URL,
            "sub": f"anon-{username}",
            "preferred_username": username,
            "user_id": lms_user_id,
            "course_id": course_id,
            "usage_id": f"block-v1:{course_id.removeprefix('course-v1:')}+type@ibalxblock+block@chat",
            "role": "learner",
            "iat": now,
            "exp": now + 60,
            "jti": secrets.token_hex(8),
        }
        ticket = jwt.encode(claims, self._ticket_key, algorithm="RS256", headers={"kid": TICKET_KEY_ID})
        form = urllib.parse.urlencode(
            {
                "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
                "client_id": "ibal-widget",
                "subject_token_type": "urn:ibal:params:oauth:token-type:chat-ticket",
                "subject_token": ticket,
            }
        ).encode("ascii")
        with urllib.request.urlopen(f"{self.url}/oauth2/token", data=form, timeout=10) as answer:
            assert answer.status == 200

    def rows_of(self, username: str) -> dict[str, int]:
        """The learner's rows at the gateway: their user, identities and course memberships."""
        users = [row[0] for row in self._query("SELECT id FROM users WHERE username = ?", username)]
        marks = ", ".join("?" * len(users)) or "NULL"
        return {
            "users": len(users),
            "identities": self._query(f"SELECT COUNT(*) FROM identities WHERE user_id IN ({marks})", *users)[0][0],
            "memberships": self._query(
                f"SELECT COUNT(*) FROM course_memberships WHERE user_id IN ({marks})",
                *users,
            )[0][0],
        }
