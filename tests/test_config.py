"""Configuration: defaults from config.yaml, --config/CLOUDRUN_CONFIG, env overrides, errors naming the key."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.core.config import DEFAULT_CONFIG_PATH, ConfigError, load_settings

REPO = Path(__file__).resolve().parents[1]


def test_embedded_defaults_load() -> None:
    s = load_settings(DEFAULT_CONFIG_PATH, environ={})
    assert s.api.port == 8080
    assert s.effective_database_url == f"sqlite:///{s.storage_root / 'cloudrun.db'}"
    assert s.storage_root.is_absolute()


def test_every_setting_is_in_config_yaml() -> None:
    import yaml

    from orchestrator.core.config import Settings

    raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    assert set(raw) == set(Settings.model_fields)
    for name, field in Settings.model_fields.items():
        sub = getattr(field.annotation, "model_fields", None)
        if sub:
            assert set(raw[name]) == set(sub), name


def test_env_overrides(tmp_path: Path) -> None:
    env = {"CLOUDRUN_DATABASE_URL": "postgresql+psycopg://x@127.0.0.1/db", "CLOUDRUN_STORAGE_ROOT": str(tmp_path),
           "CLOUDRUN_API_PORT": "9001", "CLOUDRUN_UPLOADS_FETCH_ALLOWLIST": "[10.0.0.0/8]"}
    s = load_settings(DEFAULT_CONFIG_PATH, environ=env)
    assert s.database_url.startswith("postgresql")
    assert s.storage_root == tmp_path
    assert s.api.port == 9001
    assert s.uploads.fetch_allowlist == ["10.0.0.0/8"]


def test_other_file_via_env(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("storage_root: st\napi:\n  port: 7000\n")
    s = load_settings(environ={"CLOUDRUN_CONFIG": str(cfg)})
    assert s.api.port == 7000 and s.storage_root == tmp_path / "st"


@pytest.mark.parametrize("text,key", [
    ("api:\n  port: 70000\n", "api.port"),
    ("cluster:\n  cores_per_node: 0\n", "cluster.cores_per_node"),
    ("database_url: mysql://x\n", "database_url"),
    ("api:\n  colour: blue\n", "api.colour"),
])
def test_bad_value_names_the_key(tmp_path: Path, text: str, key: str) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_settings(cfg, environ={})


def test_cli_stops_with_message_on_bad_config(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("api:\n  port: -1\n")
    proc = subprocess.run([sys.executable, "-m", "orchestrator", "--config", str(cfg), "users", "list"],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2
    assert "api.port" in proc.stderr and "Traceback" not in proc.stderr
