"""Configuration: config.yaml (or --config / CLOUDRUN_CONFIG) + environment overrides, validated at start-up.

A bad value stops the program with a message naming the key (``ConfigError``); nothing else in the code
reads environment variables or the YAML file.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG_PATH = REPO_ROOT / "config.yaml"


class ConfigError(Exception):
    """The configuration is unusable; the message names the offending key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ApiSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    public_url: str = "http://127.0.0.1:8080/v1"
    rate_limit_per_minute: int = Field(600, ge=0)
    rate_limit_burst: int = Field(100, ge=0)
    max_form_bytes: int = Field(65536, ge=1024)
    page_size_default: int = Field(50, ge=1)
    page_size_max: int = Field(500, ge=1)


class UploadSettings(_Section):
    max_file_bytes: int = Field(20 * 1024**3, ge=1)
    fetch_max_bytes: int = Field(20 * 1024**3, ge=1)
    fetch_connect_timeout: float = Field(10, gt=0)
    fetch_read_timeout: float = Field(60, gt=0)
    fetch_total_timeout: float = Field(3600, gt=0)
    fetch_max_redirects: int = Field(5, ge=0)
    fetch_allowlist: list[str] = Field(default_factory=list)
    s3_endpoint_url: str = ""
    s3_region: str = "us-east-1"
    s3_access_key: str = ""
    s3_secret_key: str = ""


class ClusterSettings(_Section):
    cores_per_node: int = Field(2, ge=1)
    memory_per_node_mb: int = Field(8000, ge=1)
    max_nodes: int = Field(2, ge=1)
    partition_time_limit_s: int = Field(3600, ge=60)
    partition: str = "debug"
    account: str = ""
    qos: str = ""
    time_safety_factor: float = Field(2.0, ge=1.0)
    min_time_limit_s: int = Field(300, ge=60)


class CostSettings(_Section):
    seconds_per_point_step: float = Field(2.0e-6, gt=0)
    parallel_alpha: float = Field(0.02, ge=0)
    price_per_core_hour: float = Field(0.05, ge=0)
    calibration_min_runs: int = Field(3, ge=0)
    calibration_window: int = Field(20, ge=1)


class SlurmSettings(_Section):
    backend: Literal["local", "ssh"] = "local"
    command_timeout_s: float = Field(20, gt=0)
    bin_dir: str = ""
    ssh_host: str = ""
    ssh_port: int = Field(22, ge=1, le=65535)
    ssh_user: str = "root"
    ssh_key: str = ""
    ssh_known_hosts: str = ""


class DaemonSettings(_Section):
    poll_interval_s: float = Field(5, gt=0)
    lost_after_misses: int = Field(3, ge=1)
    stalled_after_s: int = Field(1800, ge=1)
    max_auto_retries: int = Field(2, ge=0)
    lease_s: float = Field(30, gt=0)


class Settings(_Section):
    """The whole configuration. Paths are absolute after loading."""

    storage_root: Path = Path("var/storage")
    database_url: str = ""
    api: ApiSettings = Field(default_factory=ApiSettings)
    uploads: UploadSettings = Field(default_factory=UploadSettings)
    cluster: ClusterSettings = Field(default_factory=ClusterSettings)
    cost: CostSettings = Field(default_factory=CostSettings)
    slurm: SlurmSettings = Field(default_factory=SlurmSettings)
    daemon: DaemonSettings = Field(default_factory=DaemonSettings)
    builds_dir: Path = Path("wrf_builds")
    maintenance_file: str = ""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if value and not value.startswith(("sqlite", "postgresql")):
            raise ValueError("must be a sqlite:/// or postgresql+psycopg:// URL")
        return value

    @property
    def effective_database_url(self) -> str:
        """The database URL in force: the configured one, else SQLite under the storage root."""
        return self.database_url or f"sqlite:///{self.storage_root / 'cloudrun.db'}"

    @property
    def maintenance_path(self) -> Path:
        """The flag file whose presence means maintenance mode (shared by every API process)."""
        return Path(self.maintenance_file) if self.maintenance_file else self.storage_root / "MAINTENANCE"

    @property
    def runs_root(self) -> Path:
        """Where run directories live: ``<storage root>/runs/<id>/``."""
        return self.storage_root / "runs"


_SHORT_ENV = {"CLOUDRUN_DATABASE_URL": ("database_url",), "CLOUDRUN_STORAGE_ROOT": ("storage_root",)}
_SECTIONS = {"api", "uploads", "cluster", "cost", "slurm", "daemon"}


def _env_overrides(environ: dict[str, str]) -> dict[str, Any]:
    """Turn CLOUDRUN_* variables into a nested dict; YAML parsing gives them their types."""
    out: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith("CLOUDRUN_") or name in ("CLOUDRUN_CONFIG", "CLOUDRUN_TOKEN", "CLOUDRUN_URL"):
            continue
        if name in _SHORT_ENV:
            path = _SHORT_ENV[name]
        else:
            rest = name[len("CLOUDRUN_"):].lower()
            section, _, key = rest.partition("_")
            if section in _SECTIONS and key:
                path = (section, key)
            elif rest in Settings.model_fields:
                path = (rest,)
            else:
                continue  # other CLOUDRUN_* variables (client, emulator) are not ours
        value: Any = raw
        if path[-1] not in ("database_url", "storage_root", "public_url", "host"):
            try:
                value = yaml.safe_load(raw)
            except yaml.YAMLError:
                value = raw
        target = out
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = value
    return out


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_settings(path: str | Path | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Load and validate the configuration; raise ConfigError naming the key on any bad value."""
    environ = dict(os.environ if environ is None else environ)
    config_path = Path(path or environ.get("CLOUDRUN_CONFIG") or DEFAULT_CONFIG_PATH).resolve()
    try:
        raw = yaml.safe_load(config_path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {config_path}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {config_path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {config_path} must hold a mapping of settings")
    data = _merge(raw, _env_overrides(environ))
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"bad configuration value for '{key}': {first['msg']} (in {config_path} or CLOUDRUN_* env)") from None
    base = config_path.parent
    settings.storage_root = (base / settings.storage_root).resolve()
    settings.builds_dir = (base / settings.builds_dir).resolve()
    return settings


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (loaded once; the CLI loads them early to fail fast)."""
    return load_settings()
