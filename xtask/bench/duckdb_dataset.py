"""The DuckDB anchor of the dataset pair: the datasets fs-offline's
`dataset` bench builds, as DuckDB SQL over the same offline Parquet files,
written to a Parquet file (snappy, as ours).

Semantics (crates/fs-offline/src/spec.rs): for the latest record per
identifier, rows rank per identifier by (event time, api_invocation_time,
write_time) newest first, a delete marker ranking first on a full tie; the
first row is the answer unless it is a delete marker. For a point-in-time
join, the group's rows are first reduced to one per (identifier, event
time) (newest api_invocation_time, then write_time), rows not newer than
the record's latest delete marker are hidden and markers dropped; each
base row (every row of the base group, duplicates included, deletes
applied the same way) then takes the joined row with the same identifier
and the greatest event time at or before its own (DuckDB's ASOF JOIN),
left. Event times compare as whole milliseconds since the epoch.

    python duckdb_dataset.py --files GLOB --id ID --time TS --out FILE
        [--join-files GLOB --prefix P] [--threads N]
        [--entities FILE --entity-id ID --entity-time T --name NAME]

With --entities, the rows are the entity file's instead (every one kept,
left ASOF join onto the --join-files group; --files is then that group's
files too, for its types).

Prints `RESULT duckdb_<latest|pit_join>_seconds <s> s` and `..._rows_out`.
"""

import argparse
import time

import duckdb
import pyarrow.parquet as pq

from _common import result


def quote(name):
    return '"' + name.replace('"', '""') + '"'


def literal(s):
    return "'" + s.replace("'", "''") + "'"


def millis(column, arrow_type):
    """The SQL for an event-time column as whole milliseconds since the epoch."""
    t = str(arrow_type)
    if t in ("string", "large_string", "utf8"):
        return f"epoch_ms(CAST({column} AS TIMESTAMPTZ))"
    if t.startswith("timestamp"):
        return f"epoch_ms({column})"
    return f"CAST(round({column} * 1000) AS BIGINT)"


def first_file(pattern):
    import glob

    files = sorted(glob.glob(pattern, recursive=True))
    if not files:
        raise SystemExit(f"duckdb_dataset: no files match {pattern}")
    return files[0]


def latest_sql(files, id_col, ts_col, ts_type):
    meta = {"write_time", "api_invocation_time", "is_deleted"}
    schema = pq.read_schema(first_file(files))
    features = [quote(n) for n in schema.names if n not in meta and n not in (id_col, ts_col)]
    cols = ", ".join([quote(id_col), quote(ts_col)] + features)
    return f"""
        SELECT {cols} FROM (
            SELECT *, {millis(quote(ts_col), ts_type)} AS __et
            FROM read_parquet({literal(files)}, hive_partitioning = false)
        )
        QUALIFY row_number() OVER (
            PARTITION BY {quote(id_col)}
            ORDER BY __et DESC, api_invocation_time DESC, write_time DESC, is_deleted DESC
        ) = 1 AND NOT is_deleted
    """


def live_rows(src, i, dedup):
    """SQL of steps 2 and 3 over the CTE `src`: duplicates collapsed (when
    `dedup`), rows not newer than the record's latest delete marker hidden,
    markers dropped."""
    rows = src
    if dedup:
        rows = f"""(SELECT * FROM {src} QUALIFY row_number() OVER (
            PARTITION BY {i}, __et
            ORDER BY api_invocation_time DESC, write_time DESC, is_deleted DESC) = 1)"""
    return f"""
        (WITH r AS (SELECT * FROM {rows}),
        m AS (
            SELECT {i} AS __id, __et AS __m_et, api_invocation_time AS __m_api,
                   write_time AS __m_wt
            FROM r WHERE is_deleted
            QUALIFY row_number() OVER (
                PARTITION BY {i} ORDER BY __et DESC, api_invocation_time DESC, write_time DESC
            ) = 1
        )
        SELECT r.* FROM r LEFT JOIN m ON r.{i} = m.__id
        WHERE NOT r.is_deleted AND (
            m.__id IS NULL
            OR (r.__et, r.api_invocation_time, r.write_time) > (m.__m_et, m.__m_api, m.__m_wt)
        ))
    """


def pit_sql(files, id_col, ts_col, ts_type, join_files, join_type, prefix):
    """Every base row (duplicates included, deletes applied) with the joined
    group's features as of its event time, left ASOF join."""
    meta = {"write_time", "api_invocation_time", "is_deleted"}
    i = quote(id_col)
    base_cols = [n for n in pq.read_schema(first_file(files)).names if n not in meta]
    base_cols = [id_col, ts_col] + [n for n in base_cols if n not in (id_col, ts_col)]
    join_cols = [
        n
        for n in pq.read_schema(first_file(join_files)).names
        if n not in meta and n not in (id_col, ts_col)
    ]
    picked = ", ".join(
        [f"b.{quote(n)}" for n in base_cols] + [f"j.{quote(n)} AS {quote(prefix + n)}" for n in join_cols]
    )
    return f"""
        WITH b_src AS (
            SELECT *, {millis(quote(ts_col), ts_type)} AS __et
            FROM read_parquet({literal(files)}, hive_partitioning = false)
        ),
        j_src AS (
            SELECT *, {millis(quote(ts_col), join_type)} AS __et
            FROM read_parquet({literal(join_files)}, hive_partitioning = false)
        ),
        base AS {live_rows("b_src", i, dedup=False)},
        joined AS {live_rows("j_src", i, dedup=True)}
        SELECT {picked}
        FROM base b ASOF LEFT JOIN joined j ON b.{i} = j.{i} AND b.__et >= j.__et
    """


def entities_pit_sql(entities, entity_id, entity_time, join_files, id_col, ts_col, join_type, prefix):
    """Every row of an entity file with the joined group's features as of
    its time (the group's rows reduced as for `pit_sql`), left ASOF join."""
    meta = {"write_time", "api_invocation_time", "is_deleted"}
    i = quote(id_col)
    entity_cols = pq.read_schema(entities).names
    e_type = pq.read_schema(entities).field(entity_time).type
    join_cols = [
        n
        for n in pq.read_schema(first_file(join_files)).names
        if n not in meta and n not in (id_col, ts_col)
    ]
    picked = ", ".join(
        [f"e.{quote(n)}" for n in entity_cols]
        + [f"j.{quote(n)} AS {quote(prefix + n)}" for n in join_cols]
    )
    return f"""
        WITH e AS (
            SELECT *, {millis(quote(entity_time), e_type)} AS __t
            FROM read_parquet({literal(entities)})
        ),
        j_src AS (
            SELECT *, {millis(quote(ts_col), join_type)} AS __et
            FROM read_parquet({literal(join_files)}, hive_partitioning = false)
        ),
        joined AS {live_rows("j_src", i, dedup=True)}
        SELECT {picked}
        FROM e ASOF LEFT JOIN joined j ON e.{quote(entity_id)} = j.{i} AND e.__t >= j.__et
    """


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", required=True, help="a glob of the base group's offline Parquet files")
    ap.add_argument("--id", required=True)
    ap.add_argument("--time", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--join-files", help="a glob of the joined group's files (same id and time names)")
    ap.add_argument("--prefix", default="")
    ap.add_argument("--threads", type=int)
    ap.add_argument("--entities", help="an entity Parquet file joined onto (instead of --files' rows)")
    ap.add_argument("--entity-id", default="id")
    ap.add_argument("--entity-time", default="t")
    ap.add_argument("--name", help="the RESULT name (duckdb_<name>_...) of an --entities join")
    a = ap.parse_args()
    con = duckdb.connect()
    if a.threads:
        con.execute(f"SET threads = {a.threads}")
    ts_type = pq.read_schema(first_file(a.files)).field(a.time).type
    if a.entities:
        join_type = pq.read_schema(first_file(a.join_files)).field(a.time).type
        sql = entities_pit_sql(
            a.entities, a.entity_id, a.entity_time, a.join_files, a.id, a.time, join_type, a.prefix
        )
        name = f"duckdb_{a.name}"
    elif a.join_files:
        join_type = pq.read_schema(first_file(a.join_files)).field(a.time).type
        sql = pit_sql(a.files, a.id, a.time, ts_type, a.join_files, join_type, a.prefix)
        name = "duckdb_pit_join"
    else:
        sql = latest_sql(a.files, a.id, a.time, ts_type)
        name = "duckdb_latest"
    t = time.perf_counter()
    con.execute(f"COPY ({sql}) TO {literal(a.out)} (FORMAT PARQUET, COMPRESSION snappy)")
    secs = time.perf_counter() - t
    rows = con.execute(f"SELECT count(*) FROM read_parquet({literal(a.out)})").fetchone()[0]
    result(f"{name}_seconds", secs, "s")
    result(f"{name}_rows_out", rows, "rows")


if __name__ == "__main__":
    main()
