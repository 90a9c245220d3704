"""SshSlurm: the same Slurm commands as LocalSlurm, run on the cluster's login node over SSH (paramiko).

Only the transport differs: argv is built by orchestrator.slurm.commands and parsed the same way; each word
is shell-quoted for the remote shell. The host key must be known (RejectPolicy): an unknown or changed key is
refused, never accepted silently. An unreachable login node means the scheduler cannot be asked:
SchedulerUnavailable, like a controller outage.
"""
from __future__ import annotations

import shlex
import socket
import subprocess
import threading
from pathlib import Path

import paramiko

from orchestrator.slurm.client import SchedulerUnavailable, SlurmError
from orchestrator.slurm.local import LocalSlurm


class SshSlurm(LocalSlurm):
    """Runs sbatch/squeue/sacct/scancel on ``host`` over one reused SSH connection."""

    def __init__(self, host: str, *, port: int = 22, user: str = "root", key_filename: str | None = None,
                 known_hosts: str | None = None, timeout: float = 30.0, bin_dir: str | Path | None = None) -> None:
        super().__init__(timeout=timeout, bin_dir=bin_dir)
        self.host, self.port, self.user = host, port, user
        self.key_filename, self.known_hosts = key_filename, known_hosts
        self._client: paramiko.SSHClient | None = None
        self._lock = threading.Lock()

    def _connect(self) -> paramiko.SSHClient:
        if self._client is not None and self._client.get_transport() is not None \
                and self._client.get_transport().is_active():  # type: ignore[union-attr]
            return self._client
        client = paramiko.SSHClient()
        if self.known_hosts:
            client.load_host_keys(self.known_hosts)
        else:
            client.load_system_host_keys()
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            client.connect(self.host, port=self.port, username=self.user, key_filename=self.key_filename,
                           look_for_keys=False, allow_agent=False, timeout=self.timeout,
                           banner_timeout=self.timeout, auth_timeout=self.timeout)
        except paramiko.SSHException as exc:  # host key refused, authentication failed: configuration errors
            raise SlurmError(f"SSH to {self.user}@{self.host}:{self.port} refused: {exc}") from exc
        except (OSError, socket.timeout) as exc:  # the login node does not answer
            raise SchedulerUnavailable(f"Slurm unavailable: cannot reach {self.host}:{self.port} over SSH: {exc}") from exc
        self._client = client
        return client

    def _execute(self, argv: list[str], cwd: str | Path | None, timeout: float) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` on the login node, each word quoted for the remote shell."""
        name = Path(argv[0]).name
        line = shlex.join(argv)
        if cwd is not None:
            line = f"cd {shlex.quote(str(cwd))} && {line}"
        with self._lock:
            client = self._connect()
            try:
                _, stdout, stderr = client.exec_command(line, timeout=timeout)
                out = stdout.read().decode(errors="replace")
                err = stderr.read().decode(errors="replace")
                code = stdout.channel.recv_exit_status()
            except (socket.timeout, TimeoutError) as exc:
                raise SchedulerUnavailable(f"Slurm unavailable: {name} did not answer within {timeout:g} s over SSH",
                                           argv=argv) from exc
            except (paramiko.SSHException, OSError) as exc:
                self._client = None
                raise SchedulerUnavailable(f"Slurm unavailable: SSH to {self.host} failed during {name}: {exc}",
                                           argv=argv) from exc
        return subprocess.CompletedProcess(argv, code, out, err)

    def close(self) -> None:
        """Close the SSH connection."""
        if self._client is not None:
            self._client.close()
            self._client = None
