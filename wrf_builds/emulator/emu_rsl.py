"""Cloudrun WRF emulator: per-rank rsl.out.NNNN / rsl.error.NNNN in WRF's real line formats.

Like RSL_LITE (facts §4.1) each rank truncates its two files in the current directory and points its
stdout/stderr at them (so a Python traceback or Open MPI's signal trace lands in rsl.error, as a
gfortran backtrace would); every WRF message goes to both files (stderrlog=1 in dmpar builds).
"""
from __future__ import annotations

import os
import socket

BANNER = " Cloudrun WRF emulator (stand-in for wrf.exe, NOT WRF) V{version}"


class Rsl:
    """Writer of one rank's rsl.out/rsl.error pair; each line is one unbuffered write."""

    def __init__(self, rank: int, directory: str = "."):
        self.rank = rank
        flags = os.O_CREAT | os.O_WRONLY | os.O_TRUNC
        self.out = os.open(os.path.join(directory, f"rsl.out.{rank:04d}"), flags, 0o644)
        self.err = os.open(os.path.join(directory, f"rsl.error.{rank:04d}"), flags, 0o644)
        os.dup2(self.out, 1)
        os.dup2(self.err, 2)
        self.say(f"taskid: {rank} hostname: {socket.gethostname().split('.')[0]}")

    def say(self, *lines: str) -> None:
        """wrf_message: the line(s) to rsl.out and rsl.error."""
        for line in lines:
            data = (line + "\n").encode()
            os.write(self.out, data)
            os.write(self.err, data)

    def fatal(self, message: str, line: int) -> None:
        """wrf_error_fatal's block (frame/module_wrf_error.F, identical in 3.8.1 and 3.9)."""
        self.say("-------------- FATAL CALLED ---------------")
        if line > 0:
            self.say(f"FATAL CALLED FROM FILE:  <stdin>  LINE:  {line:6d}")
        self.say(*message.split("\n"))
        self.say("-------------------------------------------")


def timing_main(time: str, domain: int, elapsed: float) -> str:
    """frame/module_integrate.F + module_timing.F format 3031."""
    return f"Timing for main: time {time} on domain {domain:3d}: {elapsed:10.5f} elapsed seconds"


def timing_write(name: str, domain: int, elapsed: float, version: str) -> str:
    """'Writing <file> for domain' (3.8.1 formats the name as A30: cut/padded to 30 characters)."""
    if version.startswith("3.8"):
        name = name[:30].ljust(30)
    return f"Timing for Writing {name} for domain {domain:8d}: {elapsed:10.5f} elapsed seconds"


def timing_restart(domain: int, elapsed: float) -> str:
    return f"Timing for Writing restart for domain {domain:8d}: {elapsed:10.5f} elapsed seconds"


def timing_processing(what: str, domain: int, elapsed: float) -> str:
    return f"Timing for processing {what} for domain {domain:8d}: {elapsed:10.5f} elapsed seconds"


def cfl_lines(time: str, points: int, i: int, j: int, k: int, cfl: float) -> list[str]:
    """w_damp's two lines with the wrf_debug 'd01 <time>' prefix (facts §4.6)."""
    return [
        f"d01 {time}{points:13d}  points exceeded cfl=2 in domain d01 at time {time} hours",
        f"d01 {time} MAX AT i,j,k: {i:12d}{j:12d}{k:12d} vert_cfl,w,d(eta)= "
        f"{cfl:14.7f}{-cfl * 1.7:14.7f}{0.0125:14.7f}",
    ]


def success(time: str) -> str:
    return f"d01 {time} wrf: SUCCESS COMPLETE WRF"


def mpaspect(ntasks: int) -> tuple[int, int]:
    """RSL_LITE MPASPECT: the factor pair with the smallest difference, ntasks_x <= ntasks_y."""
    best = (1, ntasks)
    for m in range(1, ntasks + 1):
        if ntasks % m == 0 and m <= ntasks // m and ntasks // m - m < best[1] - best[0]:
            best = (m, ntasks // m)
    return best


def patch(rank: int, nx: int, ny: int, e_we: int, e_sn: int) -> dict[str, int]:
    """This rank's patch and memory bounds (x fastest; halo 5 at the domain edge, 7 inside)."""
    px, py = rank % nx, rank // nx
    ips, ipe = 1 + px * e_we // nx, (px + 1) * e_we // nx
    jps, jpe = 1 + py * e_sn // ny, (py + 1) * e_sn // ny
    return {
        "ips": ips, "ipe": ipe, "jps": jps, "jpe": jpe,
        "ims": ips - (5 if px == 0 else 7), "ime": ipe + (5 if px == nx - 1 else 7),
        "jms": jps - (5 if py == 0 else 7), "jme": jpe + (5 if py == ny - 1 else 7),
    }


def startup_lines(version: str, nml_notes: list[str], e_we: int, e_sn: int, e_vert: int, p: dict[str, int],
                  physics_suite: str | None) -> list[str]:
    """From the physics NOTEs to 'alloc_space_field', as in the real 3.8.1 / 3.9 rsl files."""
    lines = list(nml_notes)
    if not version.startswith("3.8"):
        suite = str(physics_suite or "none").strip().lower()
        said = ([f"Configuring physics suite '{suite}'"] if suite != "none" else
                ["No physics suite selected.", "Physics options will be used directly from the namelist."])
        lines[-1:-1] = ["*************************************"] + said + ["*************************************"]
    mem = (p["ime"] - p["ims"] + 1) * (p["jme"] - p["jms"] + 1) * e_vert * 4 * 131
    lines += [
        f"WRF V{version} MODEL",
        " *************************************",
        " Parent domain",
        f" ids,ide,jds,jde {1:12d}{e_we:12d}{1:12d}{e_sn:12d}",
        f" ims,ime,jms,jme {p['ims']:12d}{p['ime']:12d}{p['jms']:12d}{p['jme']:12d}",
        f" ips,ipe,jps,jpe {p['ips']:12d}{p['ipe']:12d}{p['jps']:12d}{p['jpe']:12d}",
        " *************************************",
        "DYNAMICS OPTION: Eulerian Mass Coordinate",
        f"   alloc_space_field: domain {1:12d} ,{mem:22d}  bytes allocated",
    ]
    return lines


def tile_lines(p: dict[str, int]) -> list[str]:
    return [" Tile Strategy is not specified. Assuming 1D-Y",
            f"WRF TILE {1:3d} IS {p['ips']:6d} IE {p['ipe']:6d} JS {p['jps']:6d} JE {p['jpe']:6d}",
            f"WRF NUMBER OF TILES = {1:3d}"]


# check_a_mundo's NOTE lines as printed by the real 3.8.1/3.9 runs (with this file's num_soil_layers).
NOTES = [
    "--- WARNING: traj_opt is zero, but num_traj is not zero; setting num_traj to zero.",
    "--- NOTE: sst_update is 0, setting io_form_auxinput4 = 0 and auxinput4_interval = 0 for all domains",
    "--- NOTE: grid_fdda is 0 for domain      1, setting gfdda interval and ending time to 0 for that domain.",
    "--- NOTE: both grid_sfdda and pxlsm_soil_nudge are 0 for domain      1, setting sgfdda interval and ending "
    "time to 0 for that domain.",
    "--- NOTE: obs_nudge_opt is 0 for domain      1, setting obs nudging interval and ending time to 0 for that "
    "domain.",
    "--- NOTE: bl_pbl_physics /= 4, implies mfshconv must be 0, resetting",
    "Need MYNN PBL for icloud_bl = 1, resetting to 0",
    "--- NOTE: RRTMG radiation is not used, setting:  o3input=0 to avoid data pre-processing",
]

SOIL_LAYERS = {0: 5, 1: 5, 2: 4, 3: 6, 4: 4, 5: 10, 7: 2, 88: 4}
