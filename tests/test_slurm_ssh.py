"""The SSH transport against a real sshd on 127.0.0.1 (scripts/sshd-up) and the real Slurm behind it."""
from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.core.config import load_settings
from orchestrator.daemon.main import make_slurm
from orchestrator.slurm.client import SchedulerUnavailable, SlurmError
from orchestrator.slurm.ssh import SshSlurm
from orchestrator.slurm.states import JobState
from tests.servers import REPO, free_port
from tests.slurm_fixtures import slurm_cluster  # noqa: F401

pytestmark = pytest.mark.slurm


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int]]:
    directory = tmp_path_factory.mktemp("sshd")
    port = free_port()
    subprocess.run([str(REPO / "scripts" / "sshd-up"), str(directory), str(port)], check=True, timeout=60,
                   capture_output=True)
    yield directory, port
    pid = (directory / "sshd.pid").read_text().strip()
    subprocess.run(["kill", pid], timeout=10)


def client(sshd: tuple[Path, int], **kw: object) -> SshSlurm:
    directory, port = sshd
    args = {"port": port, "key_filename": str(directory / "client_ed25519"),
            "known_hosts": str(directory / "known_hosts"), "timeout": 20.0, **kw}
    return SshSlurm("127.0.0.1", **args)  # type: ignore[arg-type]


def test_submit_query_cancel_over_ssh(slurm_cluster: dict, sshd: tuple[Path, int], tmp_path: Path) -> None:  # noqa: F811
    name = f"cloudrun-ssh-test-{secrets.token_hex(4)}"  # finished jobs of earlier runs stay visible for a while
    script = tmp_path / "held.sh"
    script.write_text(f"#!/bin/bash\n#SBATCH --job-name={name}\n#SBATCH --hold\n#SBATCH -o /dev/null\ntrue\n")
    slurm = client(sshd)
    try:
        job_id = slurm.submit(script, cwd=tmp_path)
        seen = slurm.query([job_id])
        assert seen[job_id].state == JobState.PENDING and seen[job_id].name == name
        assert [j.job_id for j in slurm.find_by_name([name])] == [job_id]
        slurm.cancel([job_id])
        assert slurm.calls_by_command == {"sbatch": 1, "squeue": 2, "scancel": 1}
    finally:
        slurm.close()


def test_unknown_host_key_is_refused(sshd: tuple[Path, int], tmp_path: Path) -> None:
    (tmp_path / "empty_known_hosts").write_text("")
    slurm = client(sshd, known_hosts=str(tmp_path / "empty_known_hosts"))
    with pytest.raises(SlurmError, match="refused") as info:
        slurm.query(["1"])
    assert not isinstance(info.value, SchedulerUnavailable)


def test_unreachable_login_node_is_scheduler_unavailable(sshd: tuple[Path, int]) -> None:
    slurm = client(sshd, port=free_port(), timeout=3.0)
    with pytest.raises(SchedulerUnavailable):
        slurm.query(["1"])


def test_config_selects_the_ssh_backend(sshd: tuple[Path, int]) -> None:
    directory, port = sshd
    settings = load_settings(environ={"CLOUDRUN_SLURM_BACKEND": "ssh", "CLOUDRUN_SLURM_SSH_HOST": "127.0.0.1",
                                      "CLOUDRUN_SLURM_SSH_PORT": str(port),
                                      "CLOUDRUN_SLURM_SSH_KEY": str(directory / "client_ed25519"),
                                      "CLOUDRUN_SLURM_SSH_KNOWN_HOSTS": str(directory / "known_hosts")})
    slurm = make_slurm(settings)
    assert isinstance(slurm, SshSlurm) and slurm.port == port
    assert slurm.ping()
