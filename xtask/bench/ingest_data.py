"""Writes the ingest pair's input: a Parquet file of `rows` rows of 10
features (the schema of fs-ingest's `ingest` bench), seeded.

    python ingest_data.py --out FILE --rows N [--seed S]
"""

import argparse
import random

import pyarrow as pa
import pyarrow.parquet as pq

# (name, SageMaker type) in column order: the record identifier and event time first.
FEATURES = (
    [("id", "Integral"), ("ts", "String")]
    + [(f"f{i}", "Fractional") for i in range(4)]
    + [(f"i{i}", "Integral") for i in range(2)]
    + [(f"s{i}", "String") for i in range(2)]
)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--rows", type=int, required=True)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    n = a.rows
    ids = list(range(n))
    cols = {
        "id": pa.array(ids, pa.int64()),
        "ts": pa.array(
            [f"2024-06-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00.000Z" for i in ids],
            pa.string(),
        ),
    }
    for k in range(4):
        cols[f"f{k}"] = pa.array([rng.random() * 1000 for _ in ids], pa.float64())
    for k in range(2):
        cols[f"i{k}"] = pa.array([rng.randrange(1 << 40) for _ in ids], pa.int64())
    for k in range(2):
        cols[f"s{k}"] = pa.array([f"value-{k}-{rng.randrange(1000)}" for _ in ids], pa.string())
    pq.write_table(pa.table(cols), a.out)


if __name__ == "__main__":
    main()
