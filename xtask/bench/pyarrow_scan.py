"""The pyarrow anchor of the Parquet-read pair: `pyarrow.dataset` over the
same offline files fs-offline's scan reads, every row materialised as
Arrow record batches.

    python pyarrow_scan.py --files GLOB [--columns a,b,c]

Prints `RESULT pyarrow_scan <rows/s> rows/s` and the rows read.
"""

import argparse
import glob
import time

import pyarrow.dataset as ds

from _common import result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", required=True)
    ap.add_argument("--columns")
    a = ap.parse_args()
    files = sorted(glob.glob(a.files, recursive=True))
    if not files:
        raise SystemExit(f"pyarrow_scan: no files match {a.files}")
    columns = a.columns.split(",") if a.columns else None
    t = time.perf_counter()
    rows = 0
    for batch in ds.dataset(files, format="parquet").to_batches(columns=columns):
        rows += batch.num_rows
    secs = time.perf_counter() - t
    result("pyarrow_scan", rows / secs, "rows/s")
    result("pyarrow_scan_rows", rows, "rows")


if __name__ == "__main__":
    main()
