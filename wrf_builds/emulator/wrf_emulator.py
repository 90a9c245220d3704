"""Cloudrun WRF emulator: an mpi4py stand-in for wrf.exe (NOT WRF), the one emulated part of Cloudrun.

Started exactly like wrf.exe (``srun --mpi=pmix .../wrf.exe`` in the run directory, or mpirun); follows
its file contract: reads namelist.input, wrfinput_d01 (+ nests with input_from_file, wrfbdy_d01 for
real-data runs) or wrfrst_d01_<start> when restart=.true.; makes wrf.exe's start-up checks with its
messages; advances model time by time_step; writes rsl.out/rsl.error.NNNN in WRF's line formats,
wrfout at history_interval (frames_per_outfile frames per file, named by the first frame's time, as
WRF) and wrfrst at restart_interval (never at the start); ends with SUCCESS COMPLETE WRF on every rank.

Settings (environment; they pass through sbatch/srun):
  CLOUDRUN_EMULATOR_WRF_VERSION  '3.9' or '3.8.1': which wrf.exe to behave as (set by the build
                                 manifest's env); else ``--wrf-version``; else guessed from the
                                 namelist (a 3.9-only variable -> 3.9, afwa_hailcast_opt -> 3.8.1, else 3.9).
  CLOUDRUN_EMULATOR_STEP_SECONDS wall seconds per model time step (default 0.05).
  CLOUDRUN_EMULATOR_FAIL / ./emulator.fail   failure injection, see emu_fail.py.
Exit status: 0 success (and no_success), 1 any WRF fatal (MPI_Abort(1) like wrf.exe), 139 (SIGSEGV)
for crash/cfl, 2 for a malformed failure specification. Nests print their 'on domain N' main lines
(parent_time_step_ratio per parent step) before d01's; only d01's are timed for real.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import time
import traceback
from datetime import datetime, timedelta

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mpi4py import MPI  # noqa: E402

import emu_checks as checks  # noqa: E402
import emu_fail  # noqa: E402
import emu_namelist as nl  # noqa: E402
import emu_output as out  # noqa: E402
import emu_rsl as fmt  # noqa: E402

STEP_ENV = "CLOUDRUN_EMULATOR_STEP_SECONDS"
VERSION_ENV = "CLOUDRUN_EMULATOR_WRF_VERSION"


class Emulator:
    """One rank of the emulated wrf.exe. Rank 0 is the monitor: it reads the inputs and writes output."""

    def __init__(self, comm, version_hint: str | None):
        self.comm, self.rank, self.size = comm, comm.Get_rank(), comm.Get_size()
        self.rsl = fmt.Rsl(self.rank)
        self.version_hint = version_hint

    # ---- helpers -------------------------------------------------------------------------------
    def monitor(self, *lines: str) -> None:
        if self.rank == 0:
            self.rsl.say(*lines)

    def die(self, fatal: checks.Fatal, pre: list[str] = ()) -> None:
        """Every rank prints the same fatal (all reach it from broadcast data), then MPI_Abort(1)."""
        self.rsl.say(*pre)
        self.rsl.fatal(fatal.message, fatal.line)
        self.comm.Barrier()
        self.comm.Abort(1)

    def on_root(self, fn, *args):
        """Run fn on the monitor and broadcast its (picklable) result, as WRF broadcasts metadata."""
        value = fn(*args) if self.rank == 0 else None
        return self.comm.bcast(value, root=0)

    # ---- start-up -----------------------------------------------------------------------------
    def run(self) -> int:
        nml, fatal, bad, version = self.on_root(nl.read_namelist, "namelist.input", self.version_hint)
        self.version = version
        self.rsl.say(fmt.BANNER.format(version=version))
        self.monitor(" module_io_quilt_old.F        2931 F")
        if fatal == "ERROR OPENING namelist.input":
            self.die(checks.Fatal(fatal, 117))
        if nml is None:
            self.die(checks.Fatal(fatal, 11043), [f"  ------ ERROR while reading namelist {g} ------" for g in bad])
        if fatal == "ERROR reading namelist namelist_quilt":
            self.die(checks.Fatal(fatal, 2641))
        q = nml.get("namelist_quilt") or {}
        groups, tasks = int(q.get("nio_groups", 1)), int(q.get("nio_tasks_per_group", 0))
        self.rsl.say(f"Quilting with {groups:3d} groups of {tasks:3d} I/O tasks.")
        ntx, nty = self.mesh(nml)
        if fatal:
            self.die(checks.Fatal(fatal, 11043), [f"  ------ ERROR while reading namelist {g} ------" for g in bad])
        self.nml = nml
        dt = float(nl.get(nml, "domains", "time_step", -1))
        if dt <= 0:
            note = f"NOTE:  {1:6d} namelist settings are wrong. Please check and reset these options"
            self.die(checks.Fatal(note, 1640),
                     ["--- ERROR: Known problem.  time_step must be set to a positive integer"])
        num = int(nl.get(nml, "domains", "time_step_fract_num", 0))
        den = int(nl.get(nml, "domains", "time_step_fract_den", 1)) or 1
        self.dt = timedelta(seconds=dt + num / den)
        e_we, e_sn, e_vert = (int(nl.get(nml, "domains", k, d))
                              for k, d in (("e_we", 32), ("e_sn", 32), ("e_vert", 31)))
        self.patch = fmt.patch(self.rank, ntx, nty, e_we, e_sn)
        soil = fmt.SOIL_LAYERS.get(int(nl.get(nml, "physics", "sf_surface_physics", 0)), 5)
        notes = fmt.NOTES + [f"--- NOTE: num_soil_layers has been set to {soil:6d}"]
        self.rsl.say(*fmt.startup_lines(version, notes, e_we, e_sn, e_vert, self.patch,
                                        nl.get(nml, "physics", "physics_suite", None)))
        self.restart = bool(nl.get(nml, "time_control", "restart", False))
        plan = self.on_root(self.read_inputs)
        self.rsl.say(*plan["lines"])
        self.monitor(*plan["monitor_lines"])
        self.rsl.say(*plan["after"])
        if plan["fatal"]:
            self.die(plan["fatal"])
        return self.integrate(plan)

    def mesh(self, nml: dict) -> tuple[int, int]:
        """compute_mesh: nproc_x/nproc_y from the namelist, else MPASPECT (facts §7)."""
        px, py = int(nl.get(nml, "domains", "nproc_x", -1)), int(nl.get(nml, "domains", "nproc_y", -1))
        if px > 0 and py <= 0:
            py = self.size // px
        elif py > 0 and px <= 0:
            px = self.size // py
        elif px <= 0 and py <= 0:
            px, py = fmt.mpaspect(self.size)
        if px * py != self.size:
            self.die(checks.Fatal(f"WRF_DM_INITIALIZE (RSL_LITE): nproc_x * nproc_y in namelist ne {self.size:8d}",
                                  190))
        self.rsl.say(f" Ntasks in X {px:12d} , ntasks in Y {py:12d}")
        return px, py

    def read_inputs(self) -> dict:
        """Monitor only: open and check wrfinput (or wrfrst) and wrfbdy; returns a plan for all ranks."""
        nml, v = self.nml, self.version
        plan = {"lines": [], "monitor_lines": [], "after": [], "fatal": None, "grids": {}, "bdy_end": None}
        t0 = time.monotonic()
        start = nl.start_time(nml)
        max_dom = int(nl.get(nml, "domains", "max_dom", 1))
        if self.restart:
            name = nl.file_name(nl.get(nml, "time_control", "rst_inname", "wrfrst_d<domain>_<date>"), 1, start,
                                bool(nl.get(nml, "time_control", "nocolons", False)))
            plan["lines"].append(f" RESTART run: opening {name} for reading")
            got = out.read_restart(name)
            if got is None:
                plan["fatal"] = checks.Fatal(f" program wrf: error opening {name:<32.32} for reading", 137)
                return plan
            grid, _ = got
            grid.version, grid.time_step = v, self.dt.total_seconds()
            plan["grids"][1] = grid
            plan["monitor_lines"].append(fmt.timing_processing("restart file", 1, time.monotonic() - t0))
            real = not grid.init_type.upper().startswith("IDEAL")
            plan["after"].append(self.mapfac_line(real))
            seed = grid.seed
        else:
            header = checks.read_header("wrfinput_d01")
            if header is None:
                plan["fatal"] = checks.missing_file_fatal("wrfinput_d01")
                return plan
            res = checks.check_input(nml, v, 0, header, "wrfinput_d01")
            plan["lines"] += res.lines
            if res.fatal:  # input_wrf stops before reading any field: no 'processing' line
                plan["fatal"] = res.fatal
                return plan
            seed = checks.input_hash(header, nml)
            real = not checks.is_ideal(header)
            plan["grids"][1] = self.grid(1, seed, header)
            plan["monitor_lines"].append(fmt.timing_processing("wrfinput file (stream 0)", 1, time.monotonic() - t0))
            plan["after"].append(self.mapfac_line(real))
            # start_em runs after the fields were read (the order of the real 3.9 truncated-input rsl)
            plan["fatal"] = checks.check_start_em(nml, header)
            if plan["fatal"]:
                return plan
        for d in range(2, max_dom + 1):
            fatal = checks.nest_dims_fatal(nml, d - 1)
            header = None
            if not fatal and not self.restart and nl.get(nml, "time_control", "input_from_file", False, d - 1):
                fname = f"wrfinput_d{d:02d}"
                header = checks.read_header(fname)
                if header is None:
                    fatal = checks.missing_file_fatal(fname)
                else:
                    res = checks.check_input(nml, v, d - 1, header, fname)
                    plan["lines"] += res.lines[1:]
                    fatal = res.fatal
            if fatal:
                plan["fatal"] = fatal
                return plan
            plan["grids"][d] = self.grid(d, seed, header)
        plan["fatal"] = checks.missing_table_fatal(nml, real)  # phy_init opens the static tables
        if plan["fatal"]:
            return plan
        if real and nl.get(nml, "bdy_control", "specified", False):
            bdy = checks.read_header("wrfbdy_d01")
            if bdy is None:
                plan["fatal"] = checks.Fatal(
                    f" med_latbound_in: error opening wrfbdy_d01 for reading. IERR = {-1021:12d}", 1957)
                return plan
            spans = bdy.bdy_times or [(t, nl.wrf_time(datetime.strptime(t, "%Y-%m-%d_%H:%M:%S") + timedelta(
                seconds=int(nl.get(nml, "time_control", "interval_seconds", 10800))))) for t in bdy.times]
            plan["bdy_end"] = max((b for _, b in spans), default=None)
            if not any(a <= nl.wrf_time(start) < b for a, b in spans):
                plan["fatal"] = self.bdy_fatal()
                return plan
            plan["monitor_lines"].append(fmt.timing_processing("lateral boundary", 1, 0.001))
        return plan

    @staticmethod
    def mapfac_line(real: bool) -> str:
        return f"Max map factor in domain 1 = {1.0 if real else 0.0:5.2f}. Scale the dt in the model accordingly."

    def bdy_fatal(self) -> checks.Fatal:
        """'Ran out of valid boundary conditions' in each version's wording."""
        if self.version.startswith("3.8"):
            return checks.Fatal(" ... May have run out of valid boundary conditions in file wrfbdy_d01", 908)
        return checks.Fatal("NOTE:  Please check and reset these options", 1142)

    def grid(self, d: int, seed: str, header) -> out.Grid:
        nml = self.nml
        dims = [int(nl.get(nml, "domains", k, dv, d - 1)) for k, dv in (("e_we", 32), ("e_sn", 32), ("e_vert", 31))]
        a = header.attrs if header else {}
        return out.Grid(
            domain=d, e_we=dims[0], e_sn=dims[1], e_vert=dims[2],
            dx=float(nl.get(nml, "domains", "dx", 200.0, d - 1)), dy=float(nl.get(nml, "domains", "dy", 200.0, d - 1)),
            time_step=self.dt.total_seconds(), seed=seed, version=self.version,
            sim_start=str(a.get("SIMULATION_START_DATE", "")).strip() or nl.wrf_time(nl.start_time(nml)),
            init_type=str(a.get("SIMULATION_INITIALIZATION_TYPE", "IDEALIZED DATA")).strip(),
            num_land_cat=int(nl.get(nml, "physics", "num_land_cat", 21)))

    # ---- time loop ----------------------------------------------------------------------------
    def integrate(self, plan: dict) -> int:
        nml, grids = self.nml, plan["grids"]
        start, end = nl.start_time(nml), nl.end_time(nml)
        tc = nml.get("time_control") or {}
        nocolons = bool(tc.get("nocolons", False))
        hist_tpl = tc.get("history_outname", "wrfout_d<domain>_<date>")
        rst_tpl = tc.get("rst_outname", "wrfrst_d<domain>_<date>")
        fpo = {d: max(1, int(nl.get(nml, "time_control", "frames_per_outfile", 10, d - 1))) for d in grids}
        files: dict[int, tuple[str, list[str]]] = {}
        anchor = datetime.strptime(grids[1].sim_start, "%Y-%m-%d_%H:%M:%S") if self.restart else start
        hist_int = {d: nl.interval_seconds(nml, "history_interval", d - 1) for d in grids}
        rst_int = nl.interval_seconds(nml, "restart_interval")
        bdy_end = datetime.strptime(plan["bdy_end"], "%Y-%m-%d_%H:%M:%S") if plan["bdy_end"] else None
        fail = self.load_fail()
        step_seconds = float(os.environ.get(STEP_ENV, "0.05"))

        def history(t: datetime, at_start: bool) -> None:
            for d, g in grids.items():
                d_start = nl.start_time(nml, d - 1) if d > 1 else start
                if hist_int[d] <= 0 or t < d_start:
                    continue
                # a nest's alarm starts with the nest (non-restart); on restart the cadence is the original
                phase = (t - (d_start if d > 1 and not self.restart else anchor)).total_seconds()
                if not at_start and phase % hist_int[d] >= self.dt.total_seconds():
                    continue
                if self.rank == 0:
                    t0 = time.monotonic()
                    name = nl.file_name(hist_tpl, d, t, nocolons)
                    path, frames = files.get(d, (None, []))
                    if path is None or len(frames) >= fpo[d]:
                        path, frames = name, []
                    frames.append(nl.wrf_time(t))
                    files[d] = (path, frames)
                    out.write_history(path, g, frames)
                    self.rsl.say(fmt.timing_write(name, d, time.monotonic() - t0, self.version))

        def restart_out(t: datetime) -> None:
            if rst_int <= 0 or ((t - anchor).total_seconds() % rst_int) >= self.dt.total_seconds():
                return
            if self.rank == 0:
                t0 = time.monotonic()
                for d, g in grids.items():
                    out.write_restart(nl.file_name(rst_tpl, d, t, nocolons), g, nl.wrf_time(t))
                self.rsl.say(fmt.timing_restart(1, time.monotonic() - t0))

        nest_steps = {d: self.nest_ratio(d) for d in grids if d > 1}
        t = start
        if not self.restart or bool(tc.get("write_hist_at_0h_rst", False)):
            history(t, at_start=True)
        self.rsl.say(*fmt.tile_lines(self.patch))
        step = 0
        while t < end:
            step += 1
            if fail and step == fail.step and fail.applies(self.dt.total_seconds()):
                self.inject(fail, t)
            t0 = time.monotonic()
            if fail and fail.mode == "cfl" and fail.applies(self.dt.total_seconds()) \
                    and fail.step - fail.cfl_steps <= step < fail.step and self.rank == fail.rank:
                ts = nl.wrf_time(t + self.dt)
                self.rsl.say(*fmt.cfl_lines(ts, 3 * (step - fail.step + fail.cfl_steps + 1) ** 2, 17, 23, 12,
                                            2.0 + step / 10.0))
            time.sleep(step_seconds)
            self.comm.Barrier()  # the ranks advance together, as halo exchanges make them
            if self.rank == 0:  # nests step inside the parent step and print their lines first
                for d, n in nest_steps.items():
                    if nl.start_time(nml, d - 1) <= t:
                        for k in range(1, n + 1):
                            self.rsl.say(fmt.timing_main(nl.wrf_time(t + self.dt * k / n), d, 0.00001))
            t = t + self.dt
            self.monitor(fmt.timing_main(nl.wrf_time(t), 1, time.monotonic() - t0))
            history(t, at_start=False)
            restart_out(t)
            # the next step needs the next boundary record (read after this time's output, as WRF does)
            if bdy_end is not None and t >= bdy_end and t < end:
                if not self.version.startswith("3.8"):
                    self.rsl.say("  ---- ERROR: Ran out of valid boundary conditions in file wrfbdy_d01",
                                 f"NOTE:  {1:6d} namelist vs input data inconsistencies found.")
                self.die(self.bdy_fatal())
        self.comm.Barrier()
        if fail and fail.mode == "no_success" and fail.applies(self.dt.total_seconds()):
            if self.rank == 0:
                emu_fail.consume(fail)
            return 0
        self.rsl.say(fmt.success(nl.wrf_time(t)))
        return 0

    def nest_ratio(self, d: int) -> int:
        """Steps of domain d per d01 step: the product of parent_time_step_ratio up the nest chain."""
        n, seen = 1, set()
        while d > 1 and d not in seen:
            seen.add(d)
            n *= max(1, int(nl.get(self.nml, "domains", "parent_time_step_ratio", 1, d - 1)))
            d = int(nl.get(self.nml, "domains", "parent_id", 1, d - 1))
        return n

    def load_fail(self) -> emu_fail.FailSpec | None:
        try:
            return emu_fail.load(".")
        except (ValueError, TypeError) as exc:
            self.rsl.say(f"Cloudrun WRF emulator: bad failure specification: {exc}")
            os._exit(2)

    def inject(self, fail: emu_fail.FailSpec, t: datetime) -> None:
        """Carry out the injected failure at the start of step ``fail.step``."""
        if fail.mode == "no_success":
            return
        if self.rank == 0:
            emu_fail.consume(fail)
        if fail.mode == "hang":
            while True:
                time.sleep(3600)
        if self.rank != fail.rank:
            # The other ranks: MPI_Abort kills them (fatal); after a crash the MPI runtime would, so
            # leave quietly a little after the failing rank (srun does not kill them by itself).
            time.sleep(60.0 if fail.mode == "fatal" else 0.5)
            os._exit(1)
        if fail.mode == "fatal":
            msg = fail.message or f"Cloudrun WRF emulator: injected fatal error at step {fail.step}"
            self.rsl.fatal(msg, 4242)
            self.comm.Abort(1)
        if fail.exit_code is not None:
            os._exit(int(fail.exit_code))
        signal.signal(signal.SIGSEGV, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGSEGV)
        time.sleep(5)
        os._exit(139)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Cloudrun WRF emulator (stand-in for wrf.exe, NOT WRF)")
    parser.add_argument("--wrf-version", choices=("3.8.1", "3.9"), default=None)
    args = parser.parse_args(argv)
    hint = (args.wrf_version or os.environ.get(VERSION_ENV) or "").strip().lstrip("Vv")
    hint = "3.8.1" if hint.startswith("3.8") else "3.9" if hint.startswith("3.9") else None
    try:
        return Emulator(MPI.COMM_WORLD, hint).run()
    except Exception:
        # An emulator bug: traceback into rsl.error (stderr) and take every rank down, so srun does not
        # leave the others waiting in a collective until the time limit.
        traceback.print_exc()
        sys.stderr.flush()
        MPI.COMM_WORLD.Abort(1)
        return 1


if __name__ == "__main__":
    sys.exit(main())
