"""The user's API reference (shared/seed/api-reference.md), run as written against a real server:
every curl command (host swapped for the local server) and every Python snippet, verbatim."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.factory import make_ideal_case
from tests.servers import static_http_server, REPO, ApiServer

SEED = REPO.parent / "shared" / "seed" / "api-reference.md"
PUBLIC_HOST = "https://api.cloudrun.co"


def code_blocks(text: str, language: str) -> list[str]:
    """The fenced code blocks of one language, in document order."""
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def curl_commands(block: str) -> list[str]:
    """Curl commands of a shell block. The reference continues some commands on indented lines without a
    trailing backslash (a copy-paste slip in the document); those lines are joined to their command."""
    commands: list[str] = []
    for line in block.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("curl"):
            commands.append(stripped.rstrip("\\").strip())
        elif commands and stripped.startswith("-"):
            commands[-1] += " " + stripped.rstrip("\\").strip()
    return commands


@pytest.fixture(scope="module")
def seed_text() -> str:
    assert SEED.exists(), f"the API reference is expected at {SEED}"
    return SEED.read_text()


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_ideal_case(tmp_path_factory.mktemp("seedcase"))["wrfinput_d01"]


@pytest.fixture(scope="module")
def file_url(case: Path) -> Iterator[str]:
    with static_http_server(case.parent) as base:
        yield f"{base}/wrfinput_d01"


@pytest.fixture(scope="module")
def user_env(live_server: ApiServer, case: Path, file_url: str) -> dict[str, str]:
    token = live_server.deployment.create_user_token("seeduser")
    run = httpx.post(f"{live_server.url}/wrf", headers={"Authorization": f"Bearer {token}"},
                     data={"version": "3.9"}).json()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDRUN_")}
    env.update(token=token, CLOUDRUN_TOKEN=token, CLOUDRUN_API_TOKEN=token, CLOUDRUN_URL=live_server.url,
               id=run["id"], path_to_file=str(case), url_to_file=file_url, PYTHONPATH=str(REPO))
    return env


def test_every_curl_command(seed_text: str, live_server: ApiServer, user_env: dict[str, str]) -> None:
    commands = [c for block in code_blocks(seed_text, "shell") for c in curl_commands(block)]
    assert len(commands) >= 6
    for command in commands:
        local = command.replace(PUBLIC_HOST, live_server.base).replace('"api_endpoint_here"',
                                                                        f'"{live_server.url}/wrf"')
        proc = subprocess.run(["bash", "-c", local + " -sS -w '\\n%{http_code}'"], env=user_env,
                              capture_output=True, text=True, timeout=60)
        body, _, status = proc.stdout.rpartition("\n")
        assert proc.returncode == 0 and status.startswith("2"), (command, proc.stdout, proc.stderr)
        payload = json.loads(body)
        assert not (isinstance(payload, dict) and set(payload) == {"error"}), payload
        if "-F \"version=3.9\"" in command:
            assert payload["status"] == "created" and payload["model"]["version"] == "3.9"
        if "/upload" in command:
            assert payload["fileid"] and payload["run"]["id"] == user_env["id"]


def test_every_python_snippet(seed_text: str, live_server: ApiServer, user_env: dict[str, str]) -> None:
    snippets = code_blocks(seed_text, "python")
    assert len(snippets) >= 6
    # The snippets use names the reader fills in (token, id, path_to_file, url_to_file) and `os`; the
    # prelude binds them, the snippet itself runs unchanged, and the epilogue reports what it made.
    prelude = ("import os\ntoken = os.environ['token']\nid = os.environ['id']\n"
               "path_to_file = os.environ['path_to_file']\nurl_to_file = os.environ['url_to_file']\n")
    epilogue = ("\nimport json\nout = {k: repr(v) for k, v in dict(globals()).items() "
                "if k in ('api', 'runs', 'run')}\nprint(json.dumps(out))\n")
    for snippet in snippets:
        proc = subprocess.run([sys.executable, "-c", prelude + snippet + epilogue], env=user_env,
                              capture_output=True, text=True, timeout=120, cwd=REPO)
        assert proc.returncode == 0, (snippet, proc.stderr)
        made = json.loads(proc.stdout.strip().splitlines()[-1])
        assert "api" in made
        if "create_run" in snippet or "get_run(" in snippet:
            assert made["run"].startswith("<Run")
    runs = httpx.get(f"{live_server.url}/wrf", headers={"Authorization": f"Bearer {user_env['token']}"}).json()
    uploaded = [f for r in runs["runs"] for f in r["input_files"]]
    assert any(f.get("source_url") == user_env["url_to_file"] for f in uploaded)
    assert any(f["filename"] == "wrfinput_d01" and f.get("source_url") is None for f in uploaded)
