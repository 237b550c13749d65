"""Runs Athena (Trino) SQL on DuckDB over local Parquet files.

Used by crates/fs-offline/tests/it/athena_equivalence.rs. Reads one JSON
object on stdin:

    {"tables": [{"parts": ["AwsDataCatalog", "db", "table"], "files": "/dir/**/*.parquet"}],
     "queries": [{"sql": "<Trino SQL>", "out": "/path/result.parquet"}]}

For each query: the SQL is parsed as Trino by sqlglot (a syntax error
fails), transpiled to DuckDB, and run with the session time zone UTC over
views named like the Athena tables; the rows go to `out` as Parquet. On
failure it prints the query, the DuckDB SQL and the error, and exits 1.
"""

import json
import sys

import duckdb
import sqlglot


def quote(name):
    return '"' + name.replace('"', '""') + '"'


def main():
    request = json.load(sys.stdin)
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    attached = set()
    for table in request["tables"]:
        catalog, database, name = table["parts"]
        if catalog not in attached:
            con.execute(f"ATTACH ':memory:' AS {quote(catalog)}")
            attached.add(catalog)
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(catalog)}.{quote(database)}")
        files = table["files"].replace("'", "''")
        con.execute(
            f"CREATE VIEW {quote(catalog)}.{quote(database)}.{quote(name)} AS "
            f"SELECT * FROM read_parquet('{files}', hive_partitioning = false, union_by_name = true)"
        )
    for query in request["queries"]:
        trino = query["sql"]
        duck = None
        try:
            sqlglot.parse_one(trino, read="trino", error_level=sqlglot.ErrorLevel.RAISE)
            duck = sqlglot.transpile(trino, read="trino", write="duckdb", unsupported_level=sqlglot.ErrorLevel.RAISE)[0]
            out = query["out"].replace("'", "''")
            con.execute(f"COPY ({duck}) TO '{out}' (FORMAT PARQUET)")
        except Exception as e:  # noqa: BLE001 - report whatever failed, with the SQL
            print(f"query failed: {e}\n--- Trino SQL:\n{trino}\n--- DuckDB SQL:\n{duck}", file=sys.stderr)
            sys.exit(1)
        print(duck, file=sys.stderr)


if __name__ == "__main__":
    main()
