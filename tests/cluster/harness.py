"""A region's deployment on one machine, from real processes: PostgreSQL as a primary with a
synchronous streaming standby, a three-node RabbitMQ cluster, hub nodes (``appeals-gateway serve``
and ``worker``) on their own loopback addresses, and HAProxy in front of the hubs (HTTP) and of
the RabbitMQ nodes (TCP).

Everything runs on ports, data directories and an Erlang port mapper of its own; the machine's
shared PostgreSQL (5432) and RabbitMQ (5672) are never touched. Both the cluster test
(tests/cluster) and ``bench/cluster.py`` build on it. :func:`region` stops and removes all it
started, also when the code using it fails.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg

from tests import children
from tests.e2e.processes import Process, wait_for

PG_BIN = Path("/usr/lib/postgresql/15/bin")
RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")
DATABASE = "gateway"
# Hub nodes each on an address of their own, as on machines of their own (Linux routes 127/8 to lo).
HUB_ADDRESSES = ("127.0.0.2", "127.0.0.3", "127.0.0.4")


def say(message: str) -> None:
    """Progress on stdout (pytest -s, a bench's stderr-less run, CI logs), stamped with the time."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def _run(args: list[str], *, env: Mapping[str, str] | None = None, timeout: float = 120) -> str:
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


# --- PostgreSQL: a primary and a synchronous standby --------------------------------------------


class PostgresPair:
    """``initdb`` a primary, ``pg_basebackup -R`` a standby from it, and make the standby
    synchronous: a commit the hub was told of is on both servers, so promoting the standby after
    the primary dies loses nothing a client was answered for.

    PostgreSQL refuses to run as root: as root, the servers run as the ``postgres`` user.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.primary_port = free_port()
        self.standby_port = free_port()
        self.primary_dir = root / "primary"
        self.standby_dir = root / "standby"
        self.socket_dir = root / "sockets"
        self._as_postgres = os.geteuid() == 0

    def _pg(self, tool: str, *args: str, timeout: float = 120) -> str:
        command = [str(PG_BIN / tool), *args]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        return _run(command, timeout=timeout)

    def _options(self, port: int) -> str:
        return (
            f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={self.socket_dir}"
            " -c max_connections=300 -c wal_level=replica -c hot_standby=on"
        )

    def start(self) -> None:
        self.root.chmod(0o755)
        self.socket_dir.mkdir()
        if self._as_postgres:
            postgres = pwd.getpwnam("postgres")
            os.chown(self.socket_dir, postgres.pw_uid, postgres.pw_gid)
            os.chown(self.root, postgres.pw_uid, postgres.pw_gid)
        self._pg("initdb", "-D", str(self.primary_dir), "-U", "postgres", "-A", "trust", "--no-sync")
        self._start(self.primary_dir, self.primary_port)
        with psycopg.connect(self.admin_url(self.primary_port), autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {DATABASE}")
        self._pg("pg_basebackup", "-h", "127.0.0.1", "-p", str(self.primary_port), "-U", "postgres",
                 "-D", str(self.standby_dir), "-R", "-X", "stream", "-c", "fast", "--no-sync")  # fmt: skip
        self._start(self.standby_dir, self.standby_port)
        self.set_synchronous(True)

    def set_synchronous(self, on: bool) -> None:
        """Whether a commit on the primary waits for the standby's flush. Set on the primary alone
        (after the base backup), so the promoted standby, having no standby, waits for none."""
        with psycopg.connect(self.admin_url(self.primary_port), autocommit=True) as admin:
            admin.execute(f"ALTER SYSTEM SET synchronous_standby_names = '{'*' if on else ''}'")
            admin.execute("SELECT pg_reload_conf()")
            wanted = "sync" if on else "async"
            wait_for(
                lambda: admin.execute(
                    "SELECT 1 FROM pg_stat_replication WHERE sync_state = %s", (wanted,)
                ).fetchone(),
                30,
                f"the standby to stream ({wanted})",
            )

    def _start(self, data_dir: Path, port: int) -> None:
        self._pg("pg_ctl", "start", "-w", "-D", str(data_dir), "-l", str(self.root / f"{data_dir.name}.log"),
                 "-o", self._options(port))  # fmt: skip

    @staticmethod
    def admin_url(port: int, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{port}/{database}"

    @property
    def url(self) -> str:
        """What the hubs are given: both servers, and libpq picks the one that takes writes."""
        return (
            f"postgresql://postgres@127.0.0.1:{self.primary_port},127.0.0.1:{self.standby_port}/{DATABASE}"
            "?target_session_attrs=read-write&connect_timeout=3"
        )

    def stop_primary(self) -> None:
        """The primary dies (``immediate``: no shutdown checkpoint, as in a crash)."""
        self._pg("pg_ctl", "stop", "-D", str(self.primary_dir), "-m", "immediate")

    def promote_standby(self) -> None:
        self._pg("pg_ctl", "promote", "-w", "-D", str(self.standby_dir))

    def stop(self) -> None:
        for data_dir in (self.standby_dir, self.primary_dir):
            if (data_dir / "postmaster.pid").exists():
                with contextlib.suppress(Exception):
                    self._pg("pg_ctl", "stop", "-D", str(data_dir), "-m", "immediate", timeout=30)


# --- RabbitMQ: three nodes in one cluster -------------------------------------------------------


@dataclass
class RabbitNode:
    name: str
    port: int
    dist_port: int
    process: subprocess.Popen | None = None


class RabbitCluster:
    """Three RabbitMQ nodes (``gwcN@localhost``) on their own ports, with their own Erlang port
    mapper and cookie, joined into one cluster before any queue is declared, so a quorum queue
    has a member on each."""

    def __init__(self, root: Path, size: int = 3) -> None:
        self.root = root
        self.epmd_port = free_port()
        self.epmd: subprocess.Popen | None = None
        tag = os.getpid()
        self.nodes = [
            RabbitNode(f"gwc{tag}x{i}@localhost", free_port(), free_port()) for i in range(1, size + 1)
        ]
        (root / ".erlang.cookie").write_text(f"GWCLUSTER{tag}{time.monotonic_ns()}")
        (root / ".erlang.cookie").chmod(0o400)
        (root / "rabbitmq-env.conf").write_text("")  # not the machine's /etc/rabbitmq one
        (root / "enabled_plugins").write_text("[].\n")  # no management listener on a shared port
        (root / "rabbitmq.conf").write_text("log.console = false\n")

    @property
    def env(self) -> dict[str, str]:
        """What the nodes and ``rabbitmqctl`` run with (their cookie is under this HOME)."""
        return {
            **os.environ,
            "HOME": str(self.root),
            "ERL_EPMD_PORT": str(self.epmd_port),
            "RABBITMQ_CONF_ENV_FILE": str(self.root / "rabbitmq-env.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.root / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(self.root / "rabbitmq.conf"),
            "RABBITMQ_MNESIA_BASE": str(self.root / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.root / "log"),
        }

    def ctl(self, node: RabbitNode, *args: str, timeout: float = 90) -> str:
        return _run([str(RABBIT_BIN / "rabbitmqctl"), "-n", node.name, *args], env=self.env, timeout=timeout)

    def start(self) -> None:
        """Boot the nodes together (each takes seconds), then join the others to the first."""
        # The cluster's own port mapper, a child of ours (one a node started would outlive it).
        self.epmd = subprocess.Popen(["epmd", "-port", str(self.epmd_port)], env=self.env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        wait_for(lambda: _accepts(self.epmd_port), 10, "the Erlang port mapper")
        for node in self.nodes:
            env = {
                **self.env,
                "RABBITMQ_NODENAME": node.name,
                "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
                "RABBITMQ_NODE_PORT": str(node.port),
                "RABBITMQ_DIST_PORT": str(node.dist_port),
                "RABBITMQ_PID_FILE": str(self.root / f"{node.name}.pid"),
            }
            log = (self.root / f"{node.name}.out").open("ab")
            node.process = subprocess.Popen(
                [str(RABBIT_BIN / "rabbitmq-server")], env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        with ThreadPoolExecutor(len(self.nodes)) as pool:
            list(pool.map(lambda n: self.ctl(n, "wait", "--timeout", "90", str(self.root / f"{n.name}.pid")),
                          self.nodes))  # fmt: skip
        say("RabbitMQ nodes booted")
        first, *others = self.nodes
        for node in others:
            self.ctl(node, "stop_app")
            self.ctl(node, "join_cluster", first.name)
            self.ctl(node, "start_app")

    def running(self) -> list[RabbitNode]:
        return [n for n in self.nodes if n.process is not None and n.process.poll() is None]

    def leader(self, queue: str) -> RabbitNode:
        """The node that leads the quorum queue ``queue`` now."""
        out = self.ctl(self.running()[0], "list_queues", "name", "leader", "--quiet", "--no-table-headers")
        for line in out.splitlines():
            name, _, leader = line.partition("\t")
            if name.strip() == queue:
                return next(n for n in self.nodes if n.name == leader.strip())
        raise LookupError(f"no queue {queue} in\n{out}")

    def members(self, queue: str) -> list[str]:
        out = self.ctl(self.running()[0], "list_queues", "name", "type", "members", "--quiet",
                       "--no-table-headers")  # fmt: skip
        for line in out.splitlines():
            name, kind, members = [*line.split("\t"), "", ""][:3]
            if name.strip() == queue:
                assert kind.strip() == "quorum", line
                return sorted(m.strip(" []") for m in members.split(","))
        raise LookupError(f"no queue {queue} in\n{out}")

    def stop_node(self, node: RabbitNode) -> None:
        self.ctl(node, "stop")
        assert node.process is not None
        node.process.wait(timeout=60)

    def stop(self) -> None:
        for node in self.running():
            with contextlib.suppress(Exception):
                self.ctl(node, "stop", timeout=30)
        for node in self.nodes:
            if node.process is not None and node.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(node.process.pid, signal.SIGKILL)
                node.process.wait(timeout=10)
        if self.epmd is not None:
            self.epmd.kill()
            self.epmd.wait(timeout=10)


# --- HAProxy: the balancer in front of the hubs and of the brokers ----------------------------


class Balancer:
    """Debian's HAProxy in the foreground (``-db``), with its configuration in a temp directory:
    HTTP round robin over the hub nodes (a node leaves the rotation when ``/health/live`` stops
    answering, a refused connection is retried on another node), TCP over the RabbitMQ nodes."""

    def __init__(self, root: Path, hubs: list[tuple[str, int]], rabbits: list[int]) -> None:
        self.root = root
        self.http_port = free_port()
        self.amqp_port = free_port()
        hub_lines = "\n".join(f"  server hub{i} {h}:{p} check" for i, (h, p) in enumerate(hubs, 1))
        rabbit_lines = "\n".join(
            f"  server mq{i} 127.0.0.1:{p} check on-marked-down shutdown-sessions"
            for i, p in enumerate(rabbits, 1)
        )
        self.config = root / "haproxy.cfg"
        self.config.write_text(
            f"""global
  maxconn 4096
defaults
  timeout connect 2s
  timeout client 120s
  timeout server 120s
  retries 3
  option redispatch
  default-server inter 500ms fall 2 rise 2
frontend hubs
  mode http
  bind 127.0.0.1:{self.http_port}
  default_backend hubs
backend hubs
  mode http
  balance roundrobin
  option httpchk GET /health/live
{hub_lines}
frontend amqp
  mode tcp
  bind 127.0.0.1:{self.amqp_port}
  timeout client 3h
  default_backend rabbits
backend rabbits
  mode tcp
  balance leastconn
  timeout server 3h
{rabbit_lines}
"""
        )
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def broker_url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}//"

    def start(self) -> None:
        _run(["haproxy", "-c", "-q", "-f", str(self.config)])
        log = (self.root / "haproxy.log").open("ab")
        self.process = subprocess.Popen(["haproxy", "-f", str(self.config), "-db"], stdout=log,
                                        stderr=subprocess.STDOUT)  # fmt: skip

    def stop(self) -> None:
        children.stop(self.process)


# --- hub nodes --------------------------------------------------------------------------------


@dataclass
class HubNode:
    """One machine of the region: the HTTP hub and, unless left out, its delivery worker (with
    the outbox relay)."""

    address: str
    port: int
    serve: Process
    worker: Process | None = None

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}"

    def processes(self) -> list[Process]:
        return [p for p in (self.serve, self.worker) if p is not None]

    def kill(self) -> None:
        """SIGKILL to every process of the node: a machine lost mid-request."""
        for process in self.processes():
            process.kill()

    def stop(self) -> None:
        for process in self.processes():
            process.stop()


@dataclass
class Region:
    root: Path
    postgres: PostgresPair
    balancer: Balancer
    hubs: list[HubNode]
    env: dict[str, str]
    rabbits: RabbitCluster | None = None

    @property
    def url(self) -> str:
        return self.balancer.url

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``appeals-gateway ARGS`` as an operator on any node runs it."""
        return cli(self.env, *args)

    def logs(self) -> list[Process]:
        return [p for hub in self.hubs for p in hub.processes()]


def cli(env: Mapping[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "gateway.faces.cli.main", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def _wait_until_serving(node: HubNode) -> None:
    def up() -> bool:
        try:
            return httpx.get(node.url + "/health/ready", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    wait_for(up, 60, f"the hub at {node.url} to be ready", node.serve)


@contextlib.contextmanager
def region(
    *,
    hubs: int = 3,
    registry: Path,
    trust_anchors: Path,
    operator_tokens_sha256: list[str],
    worker_env: Mapping[str, str] | None = None,
    rabbits: bool = True,
    hub_env: Mapping[str, str] | None = None,
    serve_workers: int = 1,
) -> Iterator[Region]:
    """Start a region: PostgreSQL pair (and the RabbitMQ cluster, with ``rabbits``) in parallel,
    the registry loaded once, ``hubs`` nodes (each with a worker when ``worker_env`` is given:
    the cabinet and signing settings) serving with ``serve_workers`` processes each, HAProxy in
    front. All of it goes away on exit."""
    root = Path(tempfile.mkdtemp(prefix="gw-region-"))
    root.chmod(0o711)  # PostgreSQL runs as its own user (below) and must reach its directories
    stops: list[Callable[[], None]] = []
    try:
        postgres = PostgresPair(root / "pg")
        postgres.root.mkdir()
        stops.append(postgres.stop)
        cluster = None
        if rabbits:
            (root / "mq").mkdir()
            cluster = RabbitCluster(root / "mq")
            stops.append(cluster.stop)
        with ThreadPoolExecutor(2) as pool:
            started = [pool.submit(postgres.start)] + ([pool.submit(cluster.start)] if cluster else [])
            for future in started:
                future.result()
        say("PostgreSQL primary and standby" + (", RabbitMQ cluster" if cluster else "") + " up")
        addresses = [HUB_ADDRESSES[i % len(HUB_ADDRESSES)] for i in range(hubs)]
        ports = [free_port(a) for a in addresses]
        balancer = Balancer(root, list(zip(addresses, ports, strict=True)),
                            [n.port for n in cluster.nodes] if cluster else [])  # fmt: skip
        env = {
            **os.environ,
            "DATABASE_URL": postgres.url,
            "GATEWAY_TRUST_ANCHORS": str(trust_anchors),
            "GATEWAY_OPERATOR_TOKENS_SHA256": "[" + ",".join(f'"{t}"' for t in operator_tokens_sha256) + "]",
            "GATEWAY_TRUST_CLIENT_CERT_HEADER": "true",
            "GATEWAY_DATA_DIR": str(root / "var"),
            "GATEWAY_DB_POOL_SIZE": "4",
            "GATEWAY_LOG_FORMAT": "json",
            **({"BROKER_URL": balancer.broker_url} if cluster else {}),
            **(hub_env or {}),
        }
        env.pop("GATEWAY_REGISTRY_FILE", None)
        loaded = cli(env, "agencies", "load", str(registry))
        if loaded.returncode != 0:
            raise RuntimeError(f"loading the registry failed:\n{loaded.stdout}\n{loaded.stderr}")
        say("registry loaded")
        nodes = []
        for i, (address, port) in enumerate(zip(addresses, ports, strict=True), 1):
            node_env = {**env, "GATEWAY_DATA_DIR": str(root / f"node{i}")}
            args = ["serve", "--host", address, "--port", str(port), "--workers", str(serve_workers)]
            serve = Process(args, node_env, root / f"node{i}-serve.log")
            node = HubNode(address, port, serve)
            stops.append(node.stop)
            if worker_env is not None:
                node.worker = Process(["worker"], {**node_env, **worker_env}, root / f"node{i}-worker.log")
            nodes.append(node)
        balancer.start()
        stops.append(balancer.stop)
        for node in nodes:
            _wait_until_serving(node)
        say(f"{hubs} hub nodes serving behind HAProxy at {balancer.url}")
        yield Region(root, postgres, balancer, nodes, env, cluster)
    finally:
        for stop in reversed(stops):
            with contextlib.suppress(Exception):
                stop()
        if os.environ.get("GATEWAY_KEEP_REGION") == "1":  # to read the nodes' logs after a failure
            say(f"the region's files are kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
