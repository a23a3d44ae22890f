"""deploy/Containerfile and deploy/compose.yaml, checked without a container engine.

No engine is available where these tests run, so the image is never built. Instead: the
Containerfile is parsed and its rules asserted, every file it COPYs from the build context is
checked to exist, its HEALTHCHECK command (and compose's) is executed against a local server,
and the image's start command is run as a plain process with the image's environment.
"""

from __future__ import annotations

import http.client
import json
import re
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.processes import stop

_CONTAINERFILE = Path(__file__).resolve().parents[2] / "deploy" / "Containerfile"


@dataclass
class Instruction:
    op: str
    args: str


def parse_containerfile(path: Path) -> list[list[Instruction]]:
    """Instructions grouped by stage, continuation lines joined, comments dropped."""
    stages: list[list[Instruction]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        op, _, args = line.partition(" ")
        instruction = Instruction(op.upper(), args.strip())
        if instruction.op == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    return stages


@pytest.fixture(scope="module")
def stages(deploy_dir: Path) -> list[list[Instruction]]:
    return parse_containerfile(deploy_dir / "Containerfile")


def _ops(stage: list[Instruction], op: str) -> list[str]:
    return [instruction.args for instruction in stage if instruction.op == op]


def _env(stage: list[Instruction]) -> dict[str, str]:
    env: dict[str, str] = {}
    for args in _ops(stage, "ENV"):
        for item in shlex.split(args):
            key, _, value = item.partition("=")
            env[key] = value
    return env


def test_multi_stage_with_slim_final_image(stages: list[list[Instruction]]) -> None:
    """A builder stage runs `pip install .`; the final stage is python 3.11 slim without tools."""
    assert len(stages) >= 2
    builder, final = stages[0], stages[-1]
    assert " AS builder" in builder[0].args
    assert any("pip install ." in args for args in _ops(builder, "RUN"))
    # A global ARG sits before the first FROM, outside every stage: read it from the text.
    preamble = _CONTAINERFILE.read_text().split("\nFROM ", 1)[0]
    default_base = re.search(r"^ARG PYTHON_IMAGE=(\S+)", preamble, re.M)
    assert default_base
    assert re.fullmatch(r"python:3\.11-slim(-\w+)?", default_base.group(1))
    assert final[0].args == "${PYTHON_IMAGE}"
    final_text = " ".join(instruction.args for instruction in final)
    for tool in ("apt-get", "gcc", "build-essential", "curl", "wget", "pip install"):
        assert tool not in final_text, tool


def test_runs_as_fixed_non_root_uid_on_high_port(stages: list[list[Instruction]]) -> None:
    """USER is a numeric non-zero UID (runAsNonRoot can check it); it listens on 8080."""
    final = stages[-1]
    (user,) = _ops(final, "USER")
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) >= 1000
    assert _ops(final, "EXPOSE") == ["8080"]
    assert _env(final)["AUTOCONF_BIND"] == "0.0.0.0:8080"


def test_read_only_friendly(stages: list[list[Instruction]]) -> None:
    """Run-time writes go to /tmp (metrics dir) and the state directory the runtime mounts
    (the settings snapshot, issue 17); no bytecode writes, no VOLUME."""
    final = stages[-1]
    env = _env(final)
    assert env["PROMETHEUS_MULTIPROC_DIR"].startswith("/tmp/")
    assert env["STATE_DIRECTORY"] == "/var/lib/autoconf"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert _ops(final, "VOLUME") == []
    # The directory exists, owned by the service user and private to it.
    run = " ".join(_ops(final, "RUN"))
    assert "chown 10001:10001 /var/lib/autoconf" in run
    assert "chmod 0700 /var/lib/autoconf" in run


def test_oci_labels(stages: list[list[Instruction]]) -> None:
    """The final image carries the standard OCI labels."""
    labels = " ".join(_ops(stages[-1], "LABEL"))
    for key in ("title", "description", "version", "source", "licenses"):
        assert f"org.opencontainers.image.{key}=" in labels, key


def test_entrypoint_is_gunicorn_with_shipped_config(stages: list[list[Instruction]]) -> None:
    """The image starts the shipped command (gunicorn with the packaged settings and
    application, as `mail-autoconf serve` does), never a development server."""
    from autoconf.server import command

    final = stages[-1]
    (entrypoint,) = _ops(final, "ENTRYPOINT")
    (cmd,) = _ops(final, "CMD")
    argv = json.loads(entrypoint) + json.loads(cmd)
    assert argv[0] == "gunicorn"
    assert argv[1:] == command()[3:]  # after "python -m gunicorn"
    # Settings and application come from the installed package, not from copied files.
    assert not any("deploy/" in copy for copy in _ops(final, "COPY"))
    assert not any("flask" in part.lower() for part in argv)


def test_copy_sources_exist_in_build_context(
    stages: list[list[Instruction]], repo_root: Path
) -> None:
    """Every file the Containerfile COPYs from the build context (the repo root) exists."""
    sources: list[str] = []
    for stage in stages:
        for args in _ops(stage, "COPY"):
            parts = [part for part in args.split() if not part.startswith("--")]
            if "--from=" in args:
                continue
            sources.extend(parts[:-1])
    assert sources, "no COPY from the build context found"
    for source in sources:
        assert (repo_root / source).exists(), f"COPY source {source} missing from the repo"


def healthcheck_argv(stages: list[list[Instruction]]) -> list[str]:
    (healthcheck,) = _ops(stages[-1], "HEALTHCHECK")
    return list(json.loads(healthcheck.split(" CMD ", 1)[1]))


def test_healthcheck_uses_python_stdlib(stages: list[list[Instruction]]) -> None:
    """The HEALTHCHECK probes /healthz on 8080 with python's urllib (no curl/wget in the image)."""
    argv = healthcheck_argv(stages)
    assert argv[0] == "python"
    script = argv[-1]
    assert "urllib.request" in script
    assert "http://127.0.0.1:8080/healthz" in script


@contextmanager
def health_server(status: int) -> Iterator[int]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status if self.path == "/healthz" else 404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def run_probe(argv: list[str], port: int) -> int:
    script = argv[-1].replace("127.0.0.1:8080", f"127.0.0.1:{port}")
    assert f":{port}/" in script
    command = [sys.executable, *argv[1:-1], script]
    return subprocess.run(command, capture_output=True, timeout=30).returncode


def _probes(stages: list[list[Instruction]], deploy_dir: Path) -> dict[str, list[str]]:
    compose = yaml.safe_load((deploy_dir / "compose.yaml").read_text())
    compose_test = compose["services"]["autoconf"]["healthcheck"]["test"]
    assert compose_test[0] == "CMD"
    return {"Containerfile": healthcheck_argv(stages), "compose.yaml": compose_test[1:]}


@pytest.mark.parametrize("source", ["Containerfile", "compose.yaml"])
def test_healthcheck_command_really_probes(
    stages: list[list[Instruction]],
    deploy_dir: Path,
    ports: Callable[[], int],
    source: str,
) -> None:
    """The health command exits 0 on a 200 from /healthz and 1 on 503 or no listener."""
    argv = _probes(stages, deploy_dir)[source]
    with health_server(200) as port:
        assert run_probe(argv, port) == 0
    with health_server(503) as port:
        assert run_probe(argv, port) == 1
    assert run_probe(argv, ports()) == 1


def test_image_start_command_serves(
    stages: list[list[Instruction]],
    repo_root: Path,
    tmp_path: Path,
    ports: Callable[[], int],
) -> None:
    """The image's ENTRYPOINT/CMD, run as a plain process in the image's (empty) working
    directory and with its ENV, starts gunicorn and answers its own HEALTHCHECK."""
    final = stages[-1]
    workdir = tmp_path / "opt-autoconf"
    workdir.mkdir()
    port = ports()
    env: dict[str, Any] = dict(_env(final))
    env.pop("PATH")
    env["AUTOCONF_BIND"] = env["AUTOCONF_BIND"].replace(":8080", f":{port}")
    env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "prometheus")
    env["AUTOCONF_CONFIG"] = ""  # nothing mounted: the bundled example
    env["AUTOCONF_WORKERS"] = "1"
    env["PYTHONPATH"] = str(repo_root)  # stands in for the venv's installed package
    entry = json.loads(_ops(final, "ENTRYPOINT")[0]) + json.loads(_ops(final, "CMD")[0])
    argv = [sys.executable, "-m", *entry]
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            status = 0
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and status == 0:
                assert proc.poll() is None, log.read_text()
                status = _status(port, "/healthz")
                if status == 0:
                    time.sleep(0.2)
            if status == 404:
                pytest.skip("the application has no /healthz route yet (contract endpoint)")
            assert status == 200, log.read_text()
            assert run_probe(healthcheck_argv(stages), port) == 0
        finally:
            stop(proc, timeout=30)


def _status(port: int, path: str) -> int:
    """HTTP status of GET path, or 0 while nothing answers yet."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    except OSError:
        return 0
    finally:
        conn.close()


# --- compose.yaml -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def service(deploy_dir: Path) -> dict[str, Any]:
    compose = yaml.safe_load((deploy_dir / "compose.yaml").read_text())
    return dict(compose["services"]["autoconf"])


def test_compose_hardening(service: dict[str, Any]) -> None:
    """read_only root, tmpfs /tmp, no capabilities, no-new-privileges, non-root user, limits."""
    assert service["read_only"] is True
    assert any(entry.split(":")[0] == "/tmp" for entry in service["tmpfs"])
    assert service["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in service["security_opt"]
    assert int(service["user"].split(":")[0]) >= 1000
    assert service["mem_limit"]
    assert "ports" not in service  # reached through the proxy's network only


def test_compose_state_directory_is_a_volume(service: dict[str, Any]) -> None:
    """$STATE_DIRECTORY (the settings snapshot) is on a named volume, so it outlives the
    container while the root filesystem stays read-only."""
    target = service["environment"]["STATE_DIRECTORY"]
    mounts = [volume.split(":") for volume in service["volumes"]]
    assert any(mount[1] == target and not mount[0].startswith((".", "/")) for mount in mounts)


def test_compose_mounts_config_read_only(service: dict[str, Any]) -> None:
    """The config file is bind-mounted read-only where AUTOCONF_CONFIG points."""
    target = service["environment"]["AUTOCONF_CONFIG"]
    mounts = [volume.split(":") for volume in service["volumes"]]
    assert any(mount[1] == target and mount[2:] == ["ro"] for mount in mounts)


def test_compose_builds_from_repo_root(service: dict[str, Any], deploy_dir: Path) -> None:
    """The build context is the repository root and the Containerfile path is right."""
    context = (deploy_dir / service["build"]["context"]).resolve()
    assert (context / "pyproject.toml").exists()
    assert (context / service["build"]["dockerfile"]).resolve() == _CONTAINERFILE


def test_compose_traefik_example_is_valid(deploy_dir: Path) -> None:
    """The commented Traefik labels parse once uncommented and route both host names."""
    text = (deploy_dir / "compose.yaml").read_text()
    match = re.search(
        r"# --- traefik example begin ---\n(.*?)\n\s*# --- traefik example end", text, re.S
    )
    assert match
    lines = [re.sub(r"^(\s*)# ", r"\1", line) for line in match.group(1).splitlines()]
    block = yaml.safe_load("\n".join(line[4:] for line in lines))
    labels = block["labels"]
    rule = "Host(`autoconfig.example.com`) || Host(`autodiscover.example.com`)"
    assert labels["traefik.http.routers.autoconf.rule"] == rule
    assert labels["traefik.http.routers.autoconf-http.rule"] == rule
    assert labels["traefik.http.middlewares.autoconf-body.buffering.maxRequestBodyBytes"] == "16384"
    noauth = "traefik.http.middlewares.autoconf-noauth.headers.customrequestheaders.Authorization"
    assert labels[noauth] == ""
    assert labels["traefik.http.middlewares.autoconf-https.redirectscheme.permanent"] == "false"
    assert labels["traefik.http.services.autoconf.loadbalancer.server.port"] == "8080"
