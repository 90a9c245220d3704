"""MPI mesh, patch sizes and compute options, checked against values worked out by hand in the comments.

Conventions (orchestrator/wrf/decomposition.py): patches are counted on mass points (e_we-1, e_sn-1); a count
is offered when every patch of the smallest domain has >= 10 points in x and y; Cloudrun's mesh maximises the
smallest patch side, then the squareness of d01's patches, then prefers nproc_x <= nproc_y.
"""
from __future__ import annotations

import math

import pytest

from orchestrator.wrf.decomposition import (
    ClusterShape, CostModel, best_mesh, check_cores, compute_options, efficiency, mpi_mesh, patch_sizes,
    split_points)

BIG = ClusterShape(cores_per_node=8, memory_per_node_mb=10**9, max_nodes=4, partition_time_limit_s=10**9)
COST = CostModel()


def by_cores(options):
    return {o.cores: o for o in options}


@pytest.mark.parametrize("ntasks, mesh", [(1, (1, 1)), (12, (3, 4)), (7, (1, 7)), (16, (4, 4)), (18, (3, 6)),
                                          (24, (4, 6))])
def test_mpaspect_picks_smallest_difference_with_x_not_above_y(ntasks: int, mesh: tuple[int, int]) -> None:
    # facts §7: 12 tasks -> 3x4, 7 tasks -> 1x7 (prime gives a strip); 18 -> 3x6 (|3-6| < |2-9|)
    assert mpi_mesh(ntasks) == mesh


def test_split_points_like_task_for_point() -> None:
    # 199 points on 4 tasks: 49 each, 3 left over -> 3//2 = 1 extra on the first, 2 extra on the last two
    assert split_points(199, 4) == [50, 49, 50, 50]
    # 199 on 6: 33 each, 1 left over -> 0 at the start, 1 at the end
    assert split_points(199, 6) == [33, 33, 33, 33, 33, 34]
    assert split_points(41, 2) == [20, 21]
    assert sum(split_points(999, 32)) == 999


def test_patch_sizes_on_mass_points() -> None:
    widths, heights = patch_sizes(200, 200, 4, 6)
    assert widths == [50, 49, 50, 50]
    assert heights == [33, 33, 33, 33, 33, 34]


def test_aspect_aware_mesh_differs_from_mpaspect_for_a_long_domain() -> None:
    # 401 x 101 (400 x 100 mass points) on 16 tasks: MPASPECT 4x4 gives 100x25 patches;
    # 8x2 gives 50x50 (smallest side 50 > 25), 16x1 gives 25x100 -> 8x2 wins.
    domains = [(401, 101, 41)]
    assert mpi_mesh(16) == (4, 4)
    assert best_mesh(16, domains) == (8, 2)


def test_small_ideal_case_42x42() -> None:
    # 41 x 41 mass points; >= 10 per patch allows at most 4 tasks per direction (41//4 = 10, 41//5 = 8).
    # Candidates 1..8 on one node, then 16, 24, 32:
    #   1: 1x1 41x41 | 2: 1x2 41,20 | 3: 1x3 41,13 | 4: 2x2 20,20 | 5: 1x5 -> 8 (no) | 6: 2x3 20,13
    #   7: 1x7 -> 5 (no) | 8: 2x4 20,10 (1x8 gives 5) | 16: 4x4 10,10 | 24, 32: any mesh has a side > 4 (no)
    options = compute_options([(42, 42, 41)], run_seconds=3600, time_step=12, cluster=BIG, cost=COST)
    got = {o.cores: (o.nproc_x, o.nproc_y, o.min_patch_x, o.min_patch_y) for o in options}
    assert got == {1: (1, 1, 41, 41), 2: (1, 2, 41, 20), 3: (1, 3, 41, 13), 4: (2, 2, 20, 20),
                   6: (2, 3, 20, 13), 8: (2, 4, 20, 10), 16: (4, 4, 10, 10)}
    # only 1 core keeps patches >= 25 (2 cores give 20): it is the recommended one
    assert [o.cores for o in options if o.recommended] == [1]
    assert all(o.nodes == 1 for o in options if o.cores <= 8) and by_cores(options)[16].nodes == 2


def test_about_200x200() -> None:
    # 199 x 199 mass points, all candidates keep >= 10:
    #   5: 1x5 199,39 | 7: 1x7 199,28 | 8: 2x4 99,49 (1x8 gives 24) | 16: 4x4 49,49
    #   24: 4x6 49,33 (3x8 gives 24) | 32: 4x8 49,24 (2x16 gives 12)
    options = by_cores(compute_options([(200, 200, 41)], 6 * 3600, 12, BIG, COST))
    assert sorted(options) == [1, 2, 3, 4, 5, 6, 7, 8, 16, 24, 32]
    hand = {5: (1, 5, 199, 39), 7: (1, 7, 199, 28), 8: (2, 4, 99, 49), 16: (4, 4, 49, 49), 24: (4, 6, 49, 33),
            32: (4, 8, 49, 24)}
    for cores, expected in hand.items():
        o = options[cores]
        assert (o.nproc_x, o.nproc_y, o.min_patch_x, o.min_patch_y) == expected
    # 32 cores: patches 24 high (< 25). 24 cores: 49.75 x 33.17 average patch,
    # halo = 55.75*39.17 - 49.75*33.17 = 533.5, ratio 0.3233, efficiency 1/(1+0.5*0.3233) = 0.861 >= 0.7
    assert options[24].efficiency == pytest.approx(0.861, abs=1e-3)
    assert [c for c, o in options.items() if o.recommended] == [24]


def test_about_1000x1000_and_limits() -> None:
    cluster = ClusterShape(cores_per_node=32, memory_per_node_mb=10**9, max_nodes=16, partition_time_limit_s=10**9)
    options = by_cores(compute_options([(1000, 1000, 51)], 6 * 3600, 60, cluster, COST))
    # 999 x 999 mass points; whole nodes beyond one: 64, 96, ..., 512
    assert sorted(options) == list(range(1, 33)) + [32 * n for n in range(2, 17)]
    # 512 = 16x32: 999//16 = 62, 999//32 = 31.  480: 20x24 gives 49,41 (16x30 gives 62,33) -> 20x24.
    # 256 = 16x16: 62,62.  96 = 8x12: 124,83.
    assert (options[512].nproc_x, options[512].nproc_y, options[512].min_patch_x, options[512].min_patch_y) \
        == (16, 32, 62, 31)
    assert (options[480].nproc_x, options[480].nproc_y, options[480].min_patch_x, options[480].min_patch_y) \
        == (20, 24, 49, 41)
    assert (options[256].min_patch_x, options[256].min_patch_y) == (62, 62)
    assert (options[96].nproc_x, options[96].nproc_y, options[96].min_patch_y) == (8, 12, 83)
    # every count keeps >= 25; 512's efficiency: 62.44 x 31.22 patch, halo 597.9, ratio 0.3067 -> 0.867
    assert options[512].recommended and sum(o.recommended for o in options.values()) == 1
    # wall time by the documented model: 360 steps * 51e6 points * 1e-6 s / (cores * eff)
    point_seconds = 360 * 1000 * 1000 * 51 * 1e-6
    o = options[512]
    assert o.time == pytest.approx(point_seconds / (512 * o.efficiency), rel=2e-3)
    assert o.cost == pytest.approx(512 * o.time / 3600 * COST.price_per_core_hour, rel=1e-3)
    # partition limit 3600 s: 5 cores: 1x5 -> patch 999 x 199.8, halo 7229, eff 0.982 -> 3739 s (dropped);
    # 6 cores: 2x3 -> 499.5 x 333, halo 5031, eff 0.985 -> 3107 s (kept)
    limited = by_cores(compute_options([(1000, 1000, 51)], 6 * 3600, 60, ClusterShape(32, 10**9, 16, 3600), COST))
    assert 5 not in limited and 6 in limited and min(limited) == 6
    assert all(o.time <= 3600 for o in limited.values())
    # memory: 51e6 points * 2000 B = 102000 MB; with 64000 MB per node one node is not enough, two are
    small_nodes = by_cores(compute_options([(1000, 1000, 51)], 6 * 3600, 60, ClusterShape(32, 64000, 16, 10**9),
                                           COST))
    assert min(small_nodes) == 64


def test_smallest_domain_limits_the_count() -> None:
    # d01 1000x1000, d02 61x61 (60 mass points): >= 10 allows at most 6 tasks per direction on d02
    options = compute_options([(1000, 1000, 51), (61, 61, 51)], 3600, 60, BIG, COST)
    # hand: 7 = 1x7 -> 60//7 = 8 (no); 5 = 1x5 -> 12 (yes); largest offered is 24
    assert max(o.cores for o in options) == 24
    assert 7 not in by_cores(options) and 5 in by_cores(options)
    for o in options:
        assert 60 // o.nproc_x >= 10 and 60 // o.nproc_y >= 10
    # 32 = 4x8 would give 60//8 = 7: not offered; 24 = 4x6 gives 15, 10: offered
    assert 32 not in by_cores(options) and 24 in by_cores(options)


def test_efficiency_is_one_on_one_core_and_falls_with_smaller_patches() -> None:
    domains = [(200, 200, 41)]
    assert efficiency(domains, 1, 1, COST) == 1.0
    assert efficiency(domains, 2, 2, COST) > efficiency(domains, 4, 4, COST) > efficiency(domains, 8, 8, COST)


def test_check_cores_lists_offered_values() -> None:
    options = compute_options([(42, 42, 41)], 3600, 12, BIG, COST)
    chosen, message = check_cores(options, 5)
    assert chosen is None and "offered: [1, 2, 3, 4, 6, 8, 16]" in message
    chosen, message = check_cores(options, None)
    assert message is None and chosen is not None and chosen.recommended
    assert check_cores(options, 4)[0].cores == 4
    assert math.isclose(check_cores(options, 4)[0].time, options[3].time)
