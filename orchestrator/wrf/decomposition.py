"""MPI decomposition of WRF domains and the compute options Cloudrun offers (pure functions).

WRF 3.8.1/3.9 split every domain over the same nproc_x × nproc_y mesh of MPI tasks (facts §7; nests use the
d01 mesh unless &dm_task_split is used, which Cloudrun does not), so the smallest domain limits the task count.
Neither version refuses thin patches (the "≥ 10 cells" check only arrived in v4.0), so Cloudrun enforces it:
every patch keeps ≥ MIN_PATCH points in x and y, and ≥ PREFERRED_PATCH is preferred.

Patch sizes are counted on mass points (e_we − 1, e_sn − 1), split like RSL_LITE's task_for_point: each task
gets n // p points, the n % p left-over points go one each to the first (n % p) // 2 and the last
n % p − (n % p) // 2 tasks.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Sequence

MIN_PATCH = 10        # WRF v4.0 module_check_a_mundo limit, applied by Cloudrun to 3.8.1/3.9 as well
PREFERRED_PATCH = 25  # WRF user-support rule of thumb: max tasks ≈ (e_we/25)·(e_sn/25)


@dataclass(frozen=True)
class ClusterShape:
    """The node shape of one Slurm partition (mirrored in config.yaml)."""

    cores_per_node: int = 32
    memory_per_node_mb: int = 128_000
    max_nodes: int = 8
    partition_time_limit_s: int = 48 * 3600


@dataclass(frozen=True)
class CostModel:
    """Constants of the wall-time and price estimate (defaults mirrored in config.yaml).

    wall = steps × points × seconds_per_point_step / (cores × efficiency), where a grid point is one
    (i, j, k) of a domain's staggered e_we × e_sn × e_vert box and steps count every domain's own steps.
    efficiency = 1 / (1 + parallel_alpha × halo/interior): halo is the ring of halo_width points around the
    average patch, interior the patch itself, so efficiency falls as patches shrink (1.0 on one core).
    seconds_per_point_step = 1e-6 is calibrated on the two runs observed with real wrf.exe 3.9 on 2 ranks
    (em_quarter_ss 0.9e-6, em_b_wave 0.6e-6 s per point-step including start-up). Each cluster refines it
    with its own finished runs (``measured_seconds_per_point_step`` per attempt, ``calibrated`` at setup).
    """

    seconds_per_point_step: float = 1.0e-6
    parallel_alpha: float = 0.5
    price_per_core_hour: float = 0.05
    halo_width: int = 3
    min_efficiency: float = 0.7            # a count is "still reasonable" at or above this efficiency
    memory_per_point_bytes: float = 2000.0  # rough WRF footprint per staggered grid point, all fields


@dataclass(frozen=True)
class ComputeOption:
    """One offered core count with its mesh, the smallest patch, and the time (s) and cost estimates."""

    cores: int
    nodes: int
    nproc_x: int
    nproc_y: int
    min_patch_x: int
    min_patch_y: int
    time: float
    cost: float
    recommended: bool = False
    efficiency: float = 1.0


def factor_pairs(ntasks: int) -> list[tuple[int, int]]:
    """All (nproc_x, nproc_y) with nproc_x × nproc_y = ntasks, nproc_x ascending."""
    if ntasks < 1:
        raise ValueError(f"ntasks must be >= 1, got {ntasks}")
    return [(m, ntasks // m) for m in range(1, ntasks + 1) if ntasks % m == 0]


def mpi_mesh(ntasks: int) -> tuple[int, int]:
    """The mesh WRF's MPASPECT picks when nproc_x/nproc_y are unset: smallest |M−N|, so nproc_x ≤ nproc_y."""
    return min(factor_pairs(ntasks), key=lambda pair: (abs(pair[0] - pair[1]), pair[0]))


def split_points(npoints: int, nparts: int) -> list[int]:
    """Points per task along one axis, distributed like RSL_LITE task_for_point (see module docstring)."""
    base, rem = divmod(npoints, nparts)
    lead = rem // 2
    return [base + 1] * lead + [base] * (nparts - rem) + [base + 1] * (rem - lead)


def patch_sizes(e_we: int, e_sn: int, nproc_x: int, nproc_y: int) -> tuple[list[int], list[int]]:
    """Widths (x) and heights (y) in mass points of the patches of a domain of staggered size e_we × e_sn."""
    return split_points(e_we - 1, nproc_x), split_points(e_sn - 1, nproc_y)


def min_patch(domains: Sequence[tuple[int, int, int]], nproc_x: int, nproc_y: int) -> tuple[int, int]:
    """The smallest patch width and height over all domains for one mesh (the smallest domain limits)."""
    return (min((e_we - 1) // nproc_x for e_we, _, _ in domains),
            min((e_sn - 1) // nproc_y for _, e_sn, _ in domains))


def best_mesh(ntasks: int, domains: Sequence[tuple[int, int, int]]) -> tuple[int, int]:
    """Cloudrun's explicit nproc_x × nproc_y: largest smallest-patch side over all domains, then the most
    square patches on d01, then nproc_x ≤ nproc_y. MPASPECT ignores the domain's aspect ratio; this does not."""
    nx, ny = domains[0][0] - 1, domains[0][1] - 1

    def score(pair: tuple[int, int]) -> tuple[int, float, int]:
        px, py = pair
        side = min(min_patch(domains, px, py))
        squareness = round(abs(math.log((nx / px) / (ny / py))), 9)  # rounded: x↔y mirrors must tie
        return (-side, squareness, px)

    return min(factor_pairs(ntasks), key=score)


def efficiency(domains: Sequence[tuple[int, int, int]], nproc_x: int, nproc_y: int, cost: CostModel) -> float:
    """Parallel efficiency of a mesh on d01 (halo ring / patch interior, see CostModel)."""
    if nproc_x * nproc_y == 1:
        return 1.0
    w = (domains[0][0] - 1) / nproc_x
    h = (domains[0][1] - 1) / nproc_y
    halo = (w + 2 * cost.halo_width) * (h + 2 * cost.halo_width) - w * h
    return 1.0 / (1.0 + cost.parallel_alpha * halo / (w * h))


def candidate_counts(cluster: ClusterShape) -> list[int]:
    """Core counts Cloudrun may ask for: any count on one node, whole nodes beyond one node."""
    single = list(range(1, cluster.cores_per_node + 1))
    return single + [n * cluster.cores_per_node for n in range(2, cluster.max_nodes + 1)]


def compute_options(domains: Sequence[tuple[int, int, int]], run_seconds: float, time_step: float,
                    cluster: ClusterShape, cost: CostModel,
                    step_ratios: Sequence[int] | None = None) -> list[ComputeOption]:
    """Feasible core counts for these domains [(e_we, e_sn, e_vert) per domain, d01 first], each with the
    mesh, smallest patch, estimated wall time (s) and cost; exactly one is marked recommended (if any).

    step_ratios: cumulative time-step ratio of each domain to d01 (a nest with parent_time_step_ratio 3
    takes 3 steps per d01 step); default 1 for all. Options over the partition time limit or the node
    memory are dropped. Recommended: the largest count whose smallest patch is ≥ PREFERRED_PATCH and whose
    efficiency ≥ cost.min_efficiency; else the largest count with efficiency ≥ min_efficiency; else the
    most efficient remaining option.
    """
    if not domains:
        return []
    work = point_steps(domains, run_seconds, time_step, step_ratios)
    memory_mb = sum(e_we * e_sn * e_vert for e_we, e_sn, e_vert in domains) * cost.memory_per_point_bytes / 1e6
    options: list[ComputeOption] = []
    for cores in candidate_counts(cluster):
        px, py = best_mesh(cores, domains)
        mx, my = min_patch(domains, px, py)
        if mx < MIN_PATCH or my < MIN_PATCH:
            continue
        nodes = max(1, math.ceil(cores / cluster.cores_per_node))
        if memory_mb / nodes > cluster.memory_per_node_mb:
            continue
        eff = efficiency(domains, px, py, cost)
        wall = work * cost.seconds_per_point_step / (cores * eff)
        if wall > cluster.partition_time_limit_s:
            continue
        options.append(ComputeOption(cores=cores, nodes=nodes, nproc_x=px, nproc_y=py, min_patch_x=mx,
                                     min_patch_y=my, time=round(wall, 3),
                                     cost=round(cores * wall / 3600.0 * cost.price_per_core_hour, 6),
                                     efficiency=round(eff, 3)))
    return _mark_recommended(options, cost)


def point_steps(domains: Sequence[tuple[int, int, int]], run_seconds: float, time_step: float,
                step_ratios: Sequence[int] | None = None) -> int:
    """Grid-point steps of a run: d01 steps × every domain's staggered points × its step ratio (see CostModel)."""
    ratios = list(step_ratios) if step_ratios else [1] * len(domains)
    d01_steps = math.ceil(run_seconds / time_step)
    return sum(d01_steps * r * e_we * e_sn * e_vert for (e_we, e_sn, e_vert), r in zip(domains, ratios))


def measured_seconds_per_point_step(domains: Sequence[tuple[int, int, int]], run_seconds: float, time_step: float,
                                    cores: int, wall_seconds: float, cost: CostModel,
                                    step_ratios: Sequence[int] | None = None) -> float | None:
    """The CostModel constant a finished attempt implies: ``compute_options``' wall-time formula solved for
    seconds_per_point_step, with the mesh Cloudrun gave those cores. None when there is nothing to learn from
    (no model time covered, no wall time)."""
    work = point_steps(domains, run_seconds, time_step, step_ratios) if run_seconds > 0 else 0
    if work <= 0 or wall_seconds <= 0 or cores < 1:
        return None
    px, py = best_mesh(cores, domains)
    return wall_seconds * cores * efficiency(domains, px, py, cost) / work


def calibrated(cost: CostModel, samples: Sequence[float], min_samples: int) -> tuple[CostModel, str]:
    """The cost model refined by measured runs on this cluster: the median of ``samples`` (newest first, already
    windowed by the caller) replaces seconds_per_point_step once there are ``min_samples`` of them. Returns the
    model and a sentence saying where its constant came from."""
    if min_samples < 1:
        return cost, f"default cost model ({cost.seconds_per_point_step:.3g} s per grid-point step)"
    if len(samples) < min_samples:
        return cost, (f"default cost model ({cost.seconds_per_point_step:.3g} s per grid-point step; "
                      f"{len(samples)} measured run(s) of this version so far, {min_samples} needed)")
    ordered = sorted(samples)
    mid = len(ordered) // 2
    median = ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
    return (replace(cost, seconds_per_point_step=median),
            f"measured on this cluster: median of the last {len(samples)} finished run(s) of this version, "
            f"{median:.3g} s per grid-point step")


def _mark_recommended(options: list[ComputeOption], cost: CostModel) -> list[ComputeOption]:
    """Return the options with the recommended one flagged (rules in compute_options' docstring)."""
    if not options:
        return options
    efficient = [o for o in options if o.efficiency >= cost.min_efficiency]
    preferred = [o for o in efficient if min(o.min_patch_x, o.min_patch_y) >= PREFERRED_PATCH]
    if preferred:
        pick = max(preferred, key=lambda o: o.cores)
    elif efficient:
        pick = max(efficient, key=lambda o: o.cores)
    else:
        pick = max(options, key=lambda o: (o.efficiency, -o.cores))
    return [ComputeOption(**{**o.__dict__, "recommended": o is pick}) for o in options]


def offered_cores(options: Sequence[ComputeOption]) -> list[int]:
    """The core counts a user may pass to start."""
    return [o.cores for o in options]


def check_cores(options: Sequence[ComputeOption], cores: int | None) -> tuple[ComputeOption | None, str | None]:
    """The option for `cores` (None → the recommended one), or an error message listing the offered values
    (the API turns it into a 400)."""
    if cores is None:
        chosen = next((o for o in options if o.recommended), None)
        return (chosen, None) if chosen else (None, "no compute option is available for this run")
    for option in options:
        if option.cores == cores:
            return option, None
    return None, f"cores={cores} is not offered for this run; offered: {offered_cores(options)}"
