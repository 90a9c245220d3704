"""Setup: validate every input, render namelist.input, check it against the inputs, offer compute options,
stage the run directory — or leave the run ``created`` with every problem listed.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from orchestrator.core.config import Settings
from orchestrator.service import calibration
from orchestrator.service import runs as run_service
from orchestrator.service.errors import BadRequest, Conflict
from orchestrator.service.views import required_input_files
from orchestrator.store.models import InputFile, Run, User
from orchestrator.store.paths import run_dir, uploads_dir
from orchestrator.store.rundir import stage_run_directory
from orchestrator.wrf.decomposition import CostModel, calibrated
from orchestrator.wrf.namelist import namelist_for
from orchestrator.wrf.types import Problem, Severity


@dataclass
class SetupPlan:
    """Everything setup decided, before anything is written."""

    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    namelist: dict[str, Any] | None = None
    namelist_text: str | None = None
    model_info: dict[str, Any] | None = None
    compute_options: list[dict[str, Any]] | None = None
    build: Any = None
    staged_inputs: dict[str, Path] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not any(p.severity == Severity.error for p in self.problems)


def _file_problems(row: InputFile) -> list[Problem]:
    out = []
    for p in (row.details or {}).get("problems", []):
        out.append(Problem(p["code"], p["message"], p.get("file") or row.filename, Severity(p.get("severity", "error"))))
    return out


def plan_setup(settings: Settings, run: Run, files: list[InputFile], overrides: dict[str, Any] | None,
               cost: tuple[CostModel, str] | None = None) -> SetupPlan:
    """Decide the namelist, the compute options and the build for ``run`` from its stored inputs.

    ``cost``: the cost model and where its speed comes from (``calibration.cost_model_for``); default: config."""
    from orchestrator.wrf.builds import build_for_version, registered_builds
    from orchestrator.wrf.consistency import check_consistency
    from orchestrator.wrf.decomposition import ClusterShape, compute_options
    from orchestrator.wrf.headers import read_header
    from orchestrator.wrf.namelist import render_namelist

    plan = SetupPlan()
    for row in files:
        found = _file_problems(row)
        plan.problems += [p for p in found if p.severity == Severity.error]
        plan.warnings += [p for p in found if p.severity == Severity.warning]
    for name in required_input_files(run, files):
        plan.problems.append(Problem("missing_input", f"{name} is required before setup: upload it", name))
    plan.build = build_for_version(registered_builds(settings.builds_dir), run.version)
    if plan.build is None:
        plan.problems.append(Problem("no_build", f"no WRF {run.version} build is registered on this cluster "
                                     f"(manifests in {settings.builds_dir}); ask the operators", None))
    if not plan.ok:
        return plan
    base = uploads_dir(settings.storage_root, run.id)
    headers = {}
    uploaded_namelist: str | None = None
    for row in files:
        if row.kind == "namelist":
            uploaded_namelist = (base / row.filename).read_text(encoding="utf-8")
            continue
        staged = (row.details or {}).get("summary", {}).get("staged_name")
        if staged:
            plan.staged_inputs[staged] = base / row.filename
            headers[staged] = read_header(base / row.filename)
    result = render_namelist(run.version, headers, overrides=overrides, uploaded_text=uploaded_namelist)
    plan.problems += [p for p in result.problems if p.severity == Severity.error]
    plan.warnings += list(result.corrections) + [p for p in result.problems if p.severity == Severity.warning]
    if not plan.ok:
        return plan
    plan.problems += [p for p in check_consistency(result.namelist, headers, run.version)]
    plan.warnings += [p for p in plan.problems if p.severity == Severity.warning]
    plan.problems = [p for p in plan.problems if p.severity == Severity.error]
    if not plan.ok:
        return plan
    plan.namelist, plan.namelist_text, plan.model_info = result.namelist, result.text, dict(result.model)
    plan.model_info["real_data"] = "wrfbdy_d01" in headers
    plan.warnings += list(result.warnings)
    model = result.model
    c = settings.cluster
    model_cost, basis = cost or calibrated(calibration.cost_model(settings), [], 0)
    options = compute_options(
        calibration.domains_of(model), calibration.run_seconds_of(model), float(model["dt"]),
        ClusterShape(c.cores_per_node, c.memory_per_node_mb, c.max_nodes, c.partition_time_limit_s), model_cost)
    if not options:
        plan.problems.append(Problem("no_compute_option", "no core count fits this grid on this cluster within the "
                                     "partition time limit; shorten the run or use a coarser grid", None))
        return plan
    plan.compute_options = [{**asdict(o), "estimate_basis": basis} for o in options]
    return plan


def setup_run(session: Session, settings: Settings, user: User, run_id: str,
              overrides: dict[str, Any] | None) -> Run:
    """Run setup; on problems record them on the run (status stays ``created``) and raise 400 listing them all."""
    run = run_service.load_run(session, user, run_id, write=True)
    run_service.ensure_allowed(run, "setup")
    files = list(session.exec(select(InputFile).where(InputFile.run_id == run.id).order_by(InputFile.filename)).all())
    fetching = [f.filename for f in files if f.status == "fetching"]
    if fetching:
        raise Conflict(f"still fetching {', '.join(fetching)}; call setup when the files are ready",
                       code="inputs_fetching")
    plan = plan_setup(settings, run, files, overrides, calibration.cost_model_for(session, settings, run.version))
    if not plan.ok:
        problems = [p.as_dict() for p in plan.problems + plan.warnings]
        code = "namelist_mismatch" if any(p.code.startswith(("namelist", "mismatch")) or p.file == "namelist.input"
                                         for p in plan.problems) else "invalid_input"
        message = f"setup found {len(plan.problems)} problem(s): " + "; ".join(p.message for p in plan.problems[:3])
        run.error = {"code": code, "message": message, "details": problems}
        run_service.record_event(session, run, "setup_failed", run_service.actor_of(user), from_status=run.status,
                                 to_status=run.status, reason=message[:1000])
        session.add(run)
        session.commit()  # the failure is part of the run's record even though the call answers 400
        raise BadRequest(message, code=code, details=problems)
    stage_run_directory(run_dir(settings.storage_root, run.id), inputs=plan.staged_inputs,
                        namelist_text=plan.namelist_text or "", build=plan.build, namelist=plan.namelist or {},
                        version=run.version)
    run.namelist_text = plan.namelist_text
    groups = json.loads(json.dumps(plan.namelist or {}))  # plain JSON types
    # namelist.input for every offered core count, rendered now so that a start only copies text
    texts = {str(o["cores"]): namelist_for(groups, o, run.version) for o in plan.compute_options or []}
    run.namelist_data = {"groups": groups, "texts": texts}
    run.namelist_overrides = overrides
    run.model_info = plan.model_info
    run.compute_options = plan.compute_options
    run.build_label, run.build_emulator = plan.build.label, bool(plan.build.emulator)
    run.error = None
    run_service.transition(session, run, "setup", run_service.actor_of(user),
                           reason="; ".join(w.message for w in plan.warnings)[:1000] or None)
    return run
