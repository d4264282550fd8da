"""whoami's matching cost against the number of registered embeddings, with the memory it uses.

Run: .venv/bin/python -m benchmarks.registry [--sizes 1000 100000 1000000] [--json]

Synthetic unit vectors (128-d, three per person) fill one scope's gallery; each
query is matched by Registry.match's own code path (Gallery.best, in a worker
thread, with its policy). The floor is reading the matrix once: 4 bytes x 128 x n.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time

import numpy as np

from benchmarks.common import median, percentile
from engine.embedders import normalise
from engine.gallery import Gallery, MatchPolicy


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def memory_bandwidth_gbs(size_mb: int = 512) -> float:
    """How fast this machine reads a large float32 array once (a sum), in GB/s."""
    data = np.ones(size_mb * 2**20 // 4, np.float32)
    data.sum()
    start = time.perf_counter()
    for _ in range(3):
        data.sum()
    return 3 * data.nbytes / (time.perf_counter() - start) / 1e9


async def measure(size: int, dim: int, repeat: int) -> dict[str, float]:
    rng = np.random.default_rng(size)
    before = rss_mb()
    gallery = Gallery(dim)
    chunk = 100_000
    for start in range(0, size, chunk):
        n = min(chunk, size - start)
        people = np.arange(start, start + n) // 3
        gallery.extend(people, rng.standard_normal((n, dim), dtype=np.float32))
    built = rss_mb()
    policy = MatchPolicy(0.93, 0.0, "max")
    queries = normalise(rng.standard_normal((repeat + 2, dim), dtype=np.float32))
    times = []
    for i, query in enumerate(queries):
        start = time.perf_counter()
        await asyncio.to_thread(gallery.best, query, policy)
        if i >= 2:  # two warm-up queries
            times.append(time.perf_counter() - start)
    matrix_mb = gallery.vectors.nbytes / 2**20
    return {
        "embeddings": size,
        "median_ms": median(times) * 1000,
        "p95_ms": percentile(times, 95) * 1000,
        "matrix_mb": matrix_mb,
        "rss_growth_mb": built - before,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 100_000, 1_000_000])
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    bandwidth = memory_bandwidth_gbs()
    rows = [asyncio.run(measure(size, args.dim, args.repeat)) for size in args.sizes]
    for row in rows:
        row["floor_ms"] = row["embeddings"] * args.dim * 4 / (bandwidth * 1e9) * 1000
    if args.json:
        print(
            json.dumps({"cores": len(os.sched_getaffinity(0)), "read_gbs": bandwidth, "rows": rows})
        )
        return
    print(f"{len(os.sched_getaffinity(0))} cores; one read of a large array: {bandwidth:.1f} GB/s")
    print("  embeddings   median     p95    floor (one read)   matrix    RSS growth")
    for r in rows:
        print(
            f"  {r['embeddings']:>10,}  {r['median_ms']:6.1f} ms {r['p95_ms']:6.1f} ms"
            f"  {r['floor_ms']:8.1f} ms       {r['matrix_mb']:6.0f} MB"
            f"  {r['rss_growth_mb']:6.0f} MB"
        )


if __name__ == "__main__":
    main()
