"""Benchmark: header validation of a 2 GiB sparse wrfinput vs `ncdump -h` on the same file.

Measures, over several repetitions, the median wall time of
  * ours: read_header + detect_kind + validate_input (in this process, as the upload path runs it), and
  * baseline: `ncdump -h FILE` (a subprocess, as a user would check a header),
and prints the ratio ours / baseline (target <= 3). No assertions: numbers only.

Run: .venv/bin/python bench/validate.py [--size-gib 2] [--repeat 15]
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestrator.wrf.headers import read_header  # noqa: E402
from orchestrator.wrf.inputs import detect_kind, validate_input  # noqa: E402
from tests.factory import make_wrfinput  # noqa: E402


def _median_seconds(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    """Build the sparse file, time both sides, print the medians and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-gib", type=float, default=2.0)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    ncdump = shutil.which("ncdump")
    with tempfile.TemporaryDirectory() as tmp:
        path = make_wrfinput(Path(tmp) / "wrfinput_d01", ideal=False, sparse_bytes=int(args.size_gib * 2**30))
        stat = path.stat()
        header = read_header(path)
        print(f"file: {stat.st_size / 2**30:.2f} GiB apparent, {stat.st_blocks * 512 / 2**20:.1f} MiB on disk, "
              f"grid {header.dimensions['west_east_stag']}x{header.dimensions['south_north_stag']}x"
              f"{header.dimensions['bottom_top_stag']}, {len(header.variables)} variables")

        def ours() -> None:
            h = read_header(path)
            validate_input(h, detect_kind(h, path.name), "3.9", path.name)

        ours()  # warm the page cache for both sides alike
        t_ours = _median_seconds(ours, args.repeat)
        print(f"ours   (read_header + validate_input): median {t_ours * 1000:8.2f} ms over {args.repeat} runs")
        if ncdump is None:
            print("baseline: ncdump not found. Install it with `apt-get install -y netcdf-bin` "
                  "(`make system-deps` installs it), then rerun.")
            return
        subprocess.run([ncdump, "-h", str(path)], check=True, capture_output=True)
        t_base = _median_seconds(
            lambda: subprocess.run([ncdump, "-h", str(path)], check=True, capture_output=True), args.repeat)
        print(f"ncdump -h                            : median {t_base * 1000:8.2f} ms over {args.repeat} runs")
        print(f"ratio ours / ncdump -h = {t_ours / t_base:.2f}  (target <= 3)")


if __name__ == "__main__":
    main()
