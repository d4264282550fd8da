"""whoami against one scope of 1M embeddings on PostgreSQL: in-memory gallery, pgvector exact, HNSW.

Run: .venv/bin/python -m benchmarks.pg_scale [--size 1000000] [--url postgresql://...] [--json]

Without --url it starts a private server (pgserver) in a temporary folder. The
embeddings are synthetic and clustered like face embeddings: every person has a
centre, all centres lean the same way (people's faces are more alike than random
vectors: different people's centres are about 0.82 apart in cosine), and each of
a person's three photos is 0.95 from the others. Each query is a new photo of a
registered person. They are loaded through the real schema (COPY), then:

- memory: the gallery whoami uses (engine.registry on PostgreSQL): the first
  query loads the scope from the database, later ones match in memory;
- exact: pgvector's exact cosine search in the database (a parallel scan);
- hnsw: pgvector's HNSW index, at several ef_search values.

Recall@1 is the share of queries whose nearest person is the one the exact
in-memory search finds (Gallery.best with aggregate "max").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import median, percentile
from engine.embedders import normalise
from engine.faces import Face
from engine.gallery import Gallery, MatchPolicy
from engine.registry import Registry
from engine.storage.postgres import PostgresStorage

SCOPE = "telegram:-1000000"
PHOTOS = 3
POLICY = MatchPolicy(0.93, 0.0, "max")
LONG = 7200.0  # seconds a bulk load or an index build may take


def clustered(size: int, dim: int, queries: int, seed: int = 0):
    """Vectors (size, dim) of size/PHOTOS people, their person ids, and queries with
    the person each is a new photo of."""
    rng = np.random.default_rng(seed)
    people = -(-size // PHOTOS)
    lean = normalise(rng.standard_normal(dim, dtype=np.float32))
    centres = np.empty((people, dim), np.float32)
    for start in range(0, people, 100_000):  # in chunks: a few hundred MB at most
        z = rng.standard_normal((min(100_000, people - start), dim), dtype=np.float32)
        centres[start : start + len(z)] = normalise(lean + 0.47 * z / np.sqrt(dim))
    ids = np.arange(size) // PHOTOS
    vectors = np.empty((size, dim), np.float32)
    for start in range(0, size, 100_000):
        part = ids[start : start + 100_000]
        noise = rng.standard_normal((len(part), dim), dtype=np.float32) / np.sqrt(dim)
        vectors[start : start + len(part)] = normalise(centres[part] + 0.23 * noise)
    asked = rng.choice(people, queries, replace=False)
    noise = rng.standard_normal((queries, dim), dtype=np.float32) / np.sqrt(dim)
    return vectors, ids, normalise(centres[asked] + 0.23 * noise), asked


def timed(values: list[float]) -> dict[str, float]:
    return {"median_ms": median(values) * 1000, "p95_ms": percentile(values, 95) * 1000}


async def load(db: PostgresStorage, vectors: np.ndarray, ids: np.ndarray) -> float:
    """Fill the schema with one scope of ``len(vectors)`` embeddings; returns seconds."""
    start = time.perf_counter()
    stamp = "2026-01-01T00:00:00+00:00"
    people = int(ids.max()) + 1
    async with db.pool.acquire() as conn:
        await conn.copy_records_to_table(
            "people",
            columns=["id", "platform", "user_id", "display_name", "created_at"],
            records=((p + 1, "telegram", str(p), f"P{p}", stamp) for p in range(people)),
            timeout=LONG,
        )
        await conn.copy_records_to_table(
            "registrations",
            columns=["id", "person_id", "scope", "created_at", "last_used_at"],
            records=((p + 1, p + 1, SCOPE, stamp, stamp) for p in range(people)),
            timeout=LONG,
        )
        await conn.copy_records_to_table(
            "embeddings",
            columns=["id", "registration_id", "embedder", "vector", "created_at"],
            records=(
                (i + 1, int(p) + 1, "dlib", v.tobytes(), stamp)
                for i, (p, v) in enumerate(zip(ids, vectors, strict=True))
            ),
            timeout=LONG,
        )
        await conn.execute("INSERT INTO scopes VALUES ($1, 1)", SCOPE)
        await conn.execute("VACUUM ANALYZE embeddings", timeout=LONG)
        await conn.execute("ANALYZE registrations", timeout=LONG)
    return time.perf_counter() - start


SEARCH = (
    "SELECT r.person_id FROM embeddings e JOIN registrations r ON r.id = e.registration_id"
    " WHERE r.scope = $2 ORDER BY e.vector::vector({dim}) <=> $1 LIMIT 10"
)


async def search(db: PostgresStorage, queries: np.ndarray, ef: int | None, limit: int):
    """The nearest person of each query by the database's search, and the seconds each took."""
    found, times = [], []
    sql = SEARCH.format(dim=queries.shape[1])
    async with db.pool.acquire() as conn:
        if ef is None:
            await conn.execute("SET enable_indexscan = off")
        else:
            await conn.execute("SET enable_indexscan = on")
            await conn.execute(f"SET hnsw.ef_search = {ef}")
        for query in queries[:limit]:
            start = time.perf_counter()
            rows = await conn.fetch(sql, query.tobytes(), SCOPE)
            times.append(time.perf_counter() - start)
            found.append(int(rows[0][0]) - 1)
        plan = "\n".join(r[0] for r in await conn.fetch("EXPLAIN " + sql, queries[0], SCOPE))
    return np.array(found), times, plan


async def measure(args: argparse.Namespace, url: str) -> dict[str, object]:
    t0 = time.perf_counter()
    vectors, ids, queries, asked = clustered(args.size, args.dim, args.queries)
    report: dict[str, object] = {"embeddings": args.size, "people": int(ids.max()) + 1}
    report["generate_s"] = time.perf_counter() - t0
    sample = vectors[: 3 * 2000 : 3] @ vectors[1 : 3 * 2000 : 3].T  # photo 0 vs photo 1
    report["same_person_cos"] = float(np.median(np.diag(sample)))
    report["other_people_cos"] = float(np.median(sample[~np.eye(len(sample), dtype=bool)]))

    gallery = Gallery(args.dim)
    gallery.extend(ids, vectors)
    truth, times = [], []
    for query in queries:
        start = time.perf_counter()
        (candidate,) = await asyncio.to_thread(gallery.best, query, POLICY)
        times.append(time.perf_counter() - start)
        truth.append(candidate.person)
    truth = np.array(truth)
    report["memory"] = timed(times) | {"asked_person_found": float((truth == asked).mean())}
    del gallery

    db = PostgresStorage(url, timeout=30)
    await db.open()
    try:
        report["load_s"] = await load(db, vectors, ids)
        del vectors
        registry = Registry(db, embedder="dlib", dim=args.dim, policy=POLICY)
        face = Face((0, 0, 1, 1), 1.0, ())
        start = time.perf_counter()
        await registry.match(SCOPE, [face], queries[:1])
        first = time.perf_counter() - start
        times = []
        for query in queries:
            start = time.perf_counter()
            await registry.match(SCOPE, [face], query[None])
            times.append(time.perf_counter() - start)
        report["whoami_postgres"] = timed(times) | {"first_query_s": first}
        await registry.close()
        del registry

        found, times, plan = await search(db, queries, None, args.exact_queries)
        n = len(found)
        report["exact"] = timed(times) | {"recall_at_1": float((found == truth[:n]).mean())}
        report["exact_plan"] = plan
        async with db.pool.acquire() as conn:
            await conn.execute(f"SET maintenance_work_mem = '{args.maintenance_work_mem}'")
            await conn.execute(f"SET max_parallel_maintenance_workers = {args.workers}")
            start = time.perf_counter()
            await conn.execute(
                f"CREATE INDEX embeddings_hnsw ON embeddings USING hnsw"
                f" ((vector::vector({args.dim})) vector_cosine_ops)"
                f" WITH (m = {args.m}, ef_construction = {args.ef_construction})",
                timeout=LONG,
            )
            report["hnsw_build_s"] = time.perf_counter() - start
            report["hnsw_size_mb"] = (
                await conn.fetchval("SELECT pg_relation_size('embeddings_hnsw')") / 2**20
            )
            report["table_size_mb"] = (
                await conn.fetchval("SELECT pg_total_relation_size('embeddings')") / 2**20
            )
        report["hnsw"] = []
        for ef in args.ef:
            found, times, plan = await search(db, queries, ef, len(queries))
            recall = float((found == truth).mean())
            report["hnsw"].append({"ef_search": ef, "recall_at_1": recall} | timed(times))
        report["hnsw_plan"] = plan
    finally:
        await db.close()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--exact-queries", type=int, default=20)
    parser.add_argument("--ef", type=int, nargs="+", default=[40, 100, 200])
    parser.add_argument("--m", type=int, default=16)
    parser.add_argument("--ef-construction", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2, help="parallel HNSW build workers")
    parser.add_argument("--maintenance-work-mem", default="3GB")
    parser.add_argument("--url", help="an empty database; default: a private pgserver")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.url:
        report = asyncio.run(measure(args, args.url))
    else:
        import pgserver

        with tempfile.TemporaryDirectory(prefix="lookalike-pg-") as folder:
            server = pgserver.get_server(Path(folder), cleanup_mode="stop")
            try:
                report = asyncio.run(measure(args, server.get_uri()))
            finally:
                server.cleanup()
    report["cores"] = len(os.sched_getaffinity(0))
    if args.json:
        print(json.dumps(report))
        return
    print(
        f"{report['embeddings']:,} embeddings of {report['people']:,} people in one scope,"
        f" {report['cores']} cores; cosine: same person {report['same_person_cos']:.3f},"
        f" other people {report['other_people_cos']:.3f} (medians)"
    )
    print(f"  loaded by COPY in {report['load_s']:.0f} s")
    mem, pg = report["memory"], report["whoami_postgres"]
    print(f"  in memory (Gallery.best)        {mem['median_ms']:7.1f} ms  p95 {mem['p95_ms']:7.1f}")
    print(
        f"  whoami on PostgreSQL (memory)   {pg['median_ms']:7.1f} ms  p95 {pg['p95_ms']:7.1f}"
        f"  first query (loads the scope) {pg['first_query_s']:.1f} s"
    )
    ex = report["exact"]
    print(
        f"  pgvector exact                  {ex['median_ms']:7.1f} ms  p95 {ex['p95_ms']:7.1f}"
        f"  recall@1 {ex['recall_at_1']:.1%}"
    )
    print(
        f"  HNSW build {report['hnsw_build_s']:.0f} s, index {report['hnsw_size_mb']:.0f} MB"
        f" (table {report['table_size_mb']:.0f} MB)"
    )
    for row in report["hnsw"]:
        print(
            f"  HNSW ef_search={row['ef_search']:<4}             {row['median_ms']:7.1f} ms"
            f"  p95 {row['p95_ms']:7.1f}  recall@1 {row['recall_at_1']:.1%}"
        )


if __name__ == "__main__":
    main()
