"""The stack the Caddyfile test runs against: a fresh PostgreSQL database, two gateways sharing it and
Redis, and Caddy in front of both, built from the repository-root Caddyfile.

Everything listens on 127.0.0.1 on ports picked at run time, so several runs can share a machine.
Every process started here is stopped when the session ends, also on failure, and the database is
dropped. The processes' logs go to a temporary folder, kept (and its path printed) when a test fails.

Environment (scripts/test-caddy.sh sets what it needs):
  IBAL_GATEWAY_BIN   the gateway binary (default <repo>/target/debug/ibal-gateway)
  CADDY_BIN          caddy (default: the one on PATH)
  TEST_POSTGRES_URL  an existing database to connect to for CREATE/DROP DATABASE
                     (default postgres://postgres@127.0.0.1:5432/test)
  TEST_REDIS_URL     default redis://127.0.0.1:6379
  IBAL_CADDY_DB      the name of the database to create (default: ibal_caddy_<random>)
  IBAL_CADDY_PIDFILE a file to append each started process id to, for the runner's last-resort cleanup
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
CADDYFILE = ROOT / "Caddyfile"
GATEWAY_BIN = Path(os.environ.get("IBAL_GATEWAY_BIN", ROOT / "target" / "debug" / "ibal-gateway"))
CADDY_BIN = os.environ.get("CADDY_BIN") or shutil.which("caddy") or "caddy"
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")

START_TIMEOUT = 60.0  # a gateway's first start migrates a fresh database
STOP_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def psql(sql: str) -> None:
    subprocess.run(
        ["psql", POSTGRES_URL, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    )


def base_env(home: Path) -> dict[str, str]:
    """A clean environment: nothing from the caller's shell (OPENEDX_URL, CHAT_BACKEND, proxies…)
    changes what is tested."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
    }


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = STOP_TIMEOUT) -> tuple[int, float, bool]:
        """SIGTERM, then SIGKILL after `timeout`. Returns (exit code, seconds taken, whether it had
        to be killed)."""
        started = time.monotonic()
        if not self.alive():
            return self.popen.returncode, 0.0, False
        self.popen.send_signal(signal.SIGTERM)
        try:
            code = self.popen.wait(timeout)
            return code, time.monotonic() - started, False
        except subprocess.TimeoutExpired:
            self.popen.kill()
            return self.popen.wait(5), time.monotonic() - started, True


@dataclass
class Stack:
    tmp: Path
    db_name: str
    db_url: str
    secret_key: str
    caddy_port: int
    admin_port: int
    gateway_ports: list[int]
    gateways: list[Proc] = field(default_factory=list)
    caddy: Proc | None = None
    caddy_stdout: Path | None = None  # the access log
    caddy_stderr: Path | None = None  # Caddy's own log
    pidfile: Path | None = None

    @property
    def public_url(self) -> str:
        return f"http://127.0.0.1:{self.caddy_port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.caddy_port}"

    @property
    def upstreams(self) -> list[str]:
        return [f"127.0.0.1:{p}" for p in self.gateway_ports]

    def caddy_env(self) -> dict[str, str]:
        env = base_env(self.tmp)
        env.update(
            {
                # The documented default form (":8080"), on this run's port, on loopback only.
                "IBAL_SITE": f":{self.caddy_port}",
                "IBAL_BIND": "127.0.0.1",
                "IBAL_UPSTREAMS": " ".join(self.upstreams),
                "IBAL_ADMIN": f"127.0.0.1:{self.admin_port}",
                "IBAL_HEALTH_INTERVAL": "1s",
                # Caddy's autosave.json and certificate storage stay in this run's folder.
                "XDG_CONFIG_HOME": str(self.tmp / "caddy-config"),
                "XDG_DATA_HOME": str(self.tmp / "caddy-data"),
            }
        )
        return env

    def _record(self, proc: Proc) -> None:
        if self.pidfile:
            with self.pidfile.open("a") as f:
                f.write(f"{proc.pid}\n")

    def start_gateway(self, index: int, migrate: bool) -> Proc:
        env = base_env(self.tmp)
        env.update(
            {
                "BIND_ADDR": f"127.0.0.1:{self.gateway_ports[index]}",
                "PUBLIC_URL": self.public_url,
                "DATABASE_URL": self.db_url,
                "REDIS_URL": REDIS_URL,
                "SECRET_KEY": self.secret_key,
                "DEBUG": "false",
                "LOG_FORMAT": "json",
                "CHAT_BACKEND": "room",
                "AUTO_MIGRATE": "true" if migrate else "false",
            }
        )
        log = self.tmp / f"gateway{index + 1}.log"
        # Run from the temporary folder: a .env in the caller's directory must not leak in.
        cwd = self.tmp / f"gateway{index + 1}"
        cwd.mkdir(exist_ok=True)
        with log.open("wb") as out:
            popen = subprocess.Popen(
                [str(GATEWAY_BIN), "serve"], cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        proc = Proc(f"gateway{index + 1}", popen, log)
        self._record(proc)
        self.gateways.append(proc)
        wait_healthy(proc, f"http://127.0.0.1:{self.gateway_ports[index]}/health")
        return proc

    def start_caddy(self) -> Proc:
        self.caddy_stdout = self.tmp / "caddy-access.log"
        self.caddy_stderr = self.tmp / "caddy.log"
        with self.caddy_stdout.open("wb") as out, self.caddy_stderr.open("wb") as err:
            popen = subprocess.Popen(
                [CADDY_BIN, "run", "--adapter", "caddyfile", "--config", str(CADDYFILE)],
                cwd=self.tmp,
                env=self.caddy_env(),
                stdout=out,
                stderr=err,
            )
        proc = Proc("caddy", popen, self.caddy_stderr)
        self._record(proc)
        self.caddy = proc
        wait_healthy(proc, f"{self.public_url}/health")
        return proc


def wait_healthy(proc: Proc, url: str, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    with httpx.Client(timeout=2.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            if not proc.alive():
                raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.tail()}")
            try:
                r = client.get(url)
                if r.status_code == 200:
                    return
                last = f"HTTP {r.status_code}"
            except httpx.HTTPError as e:
                last = repr(e)
            time.sleep(0.2)
    raise RuntimeError(f"{proc.name} not healthy at {url} after {timeout:.0f}s ({last}):\n{proc.tail()}")


def pytest_configure(config):
    # scripts/test-caddy.sh passes an interruption or its time limit on as SIGTERM: end as Ctrl-C
    # does, so that the stack's teardown still stops every process and drops the database.
    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)


_failed: list[str] = []
_kept_output: list[Path] = []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed:
        _failed.append(item.nodeid)
    return report


def pytest_terminal_summary(terminalreporter):
    for path in _kept_output:
        terminalreporter.write_line(f"processes' logs kept in {path}")


@pytest.fixture(scope="session")
def stack():
    for tool, path in (("gateway", GATEWAY_BIN), ("caddy", shutil.which(CADDY_BIN))):
        if not path or not Path(path).exists():
            pytest.fail(f"the {tool} binary is missing ({path}); run scripts/test-caddy.sh", pytrace=False)
    tmp = Path(tempfile.mkdtemp(prefix="ibal-caddy-"))
    db_name = os.environ.get("IBAL_CADDY_DB") or f"ibal_caddy_{secrets.token_hex(6)}"
    ports: set[int] = set()
    while len(ports) < 4:
        ports.add(free_port())
    caddy_port, admin_port, g1, g2 = sorted(ports)
    s = Stack(
        tmp=tmp,
        db_name=db_name,
        db_url=with_database(POSTGRES_URL, db_name),
        secret_key=secrets.token_hex(32),
        caddy_port=caddy_port,
        admin_port=admin_port,
        gateway_ports=[g1, g2],
        pidfile=Path(os.environ["IBAL_CADDY_PIDFILE"]) if os.environ.get("IBAL_CADDY_PIDFILE") else None,
    )
    psql(f'CREATE DATABASE "{db_name}"')
    started = False
    try:
        s.start_gateway(0, migrate=True)
        # Replicas do not migrate; the first one did.
        s.start_gateway(1, migrate=False)
        s.start_caddy()
        started = True
        yield s
    finally:
        for proc in [s.caddy, *s.gateways]:
            if proc is not None:
                proc.stop()
        try:
            psql(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        except subprocess.CalledProcessError as e:
            print(f"could not drop database {db_name}: {e.stderr}")
        if _failed or not started:
            _kept_output.append(tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
