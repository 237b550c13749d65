"""The SageMaker Python SDK anchor of the ingest pair:
`FeatureGroup.ingest(df, max_workers=W, max_processes=P)` against fs-server
(P x W PutRecords in flight: the xtask runs P = 1 and P = the machine's
cores, with W = in flight / P).

The SDK takes no endpoint argument for ingestion (each worker thread builds
its own `sagemaker-featurestore-runtime` client from a fresh boto3
session), so the endpoint is given the way boto3 reads it for every
client: the AWS_ENDPOINT_URL_SAGEMAKER(_FEATURESTORE_RUNTIME) variables.

    python sdk_ingest.py --endpoint URL --group G --create      # create the group
    python sdk_ingest.py --endpoint URL --group G --input FILE --workers W [--processes P] [--reproduce]

Prints `RESULT sdk_ingest <rows/s> rows/s`, timing the `ingest` call only
(the DataFrame is loaded before, the processes start inside it, as in the
SDK), `RESULT sdk_rows_written <n> rows` (the rows less those the SDK
reported failed), and `RESULT sdk_is_sagemaker 1|0 flag`: 0 when the SDK
could not be imported (or --reproduce was given) and its per-row
algorithm was reproduced with boto3 instead: the frame split into P
contiguous parts, one process each, each part into W contiguous slices,
one thread per slice, each with its own client (standard retries, 10
attempts, as the SDK sets), one PutRecord per row with every non-null
value as a string.
"""

import argparse
import math
import os
import sys
import tempfile
import time

from _common import CREDENTIALS, result
from ingest_data import FEATURES


def environment(endpoint):
    """Points every boto3 client of this process (and its children) at fs-server."""
    os.environ["AWS_ENDPOINT_URL_SAGEMAKER"] = endpoint
    os.environ["AWS_ENDPOINT_URL_SAGEMAKER_FEATURESTORE_RUNTIME"] = endpoint
    os.environ["AWS_ACCESS_KEY_ID"] = CREDENTIALS["aws_access_key_id"]
    os.environ["AWS_SECRET_ACCESS_KEY"] = CREDENTIALS["aws_secret_access_key"]
    os.environ["AWS_DEFAULT_REGION"] = CREDENTIALS["region_name"]
    os.environ["SAGEMAKER_SUPPRESS_V2_WARNING"] = "1"
    # No telemetry calls to AWS: the SDK's documented opt-out, in a config file.
    cfg = os.path.join(tempfile.mkdtemp(prefix="sm-config-"), "config.yaml")
    with open(cfg, "w") as f:
        f.write("SchemaVersion: '1.0'\nSageMaker:\n  PythonSDK:\n    Modules:\n      TelemetryOptOut: true\n")
    os.environ["SAGEMAKER_USER_CONFIG_OVERRIDE"] = cfg


def create(group):
    import boto3

    boto3.client("sagemaker").create_feature_group(
        FeatureGroupName=group,
        RecordIdentifierFeatureName="id",
        EventTimeFeatureName="ts",
        FeatureDefinitions=[{"FeatureName": n, "FeatureType": t} for n, t in FEATURES],
        OnlineStoreConfig={"EnableOnlineStore": True},
        OfflineStoreConfig={"S3StorageConfig": {"S3Uri": "s3://bench/offline"}},
        RoleArn="arn:aws:iam::000000000000:role/bench",
    )


def with_sdk(group, df, workers, processes):
    """Runs the SDK's ingest; returns its seconds and the rows it reported failed."""
    from sagemaker.feature_store.feature_group import FeatureGroup, IngestionError
    from sagemaker.session import Session

    import boto3

    fg = FeatureGroup(name=group, sagemaker_session=Session(boto_session=boto3.Session()))
    t = time.perf_counter()
    failed = 0
    try:
        fg.ingest(data_frame=df, max_workers=workers, max_processes=processes, wait=True)
    except IngestionError as e:
        failed = len(e.failed_rows)
    return time.perf_counter() - t, failed


def slices(n, parts):
    """`parts` contiguous (start, end) slices of range(n), as the SDK splits."""
    size = math.ceil(n / parts)
    return [(min(i * size, n), min(i * size + size, n)) for i in range(parts)]


def reproduced_part(group, df, workers):
    """One process of the reproduction: `workers` threads over contiguous
    slices of `df`; returns the rows that failed."""
    from concurrent.futures import ThreadPoolExecutor

    import boto3
    import pandas as pd
    from botocore.config import Config

    def one_slice(start, end):
        client = boto3.Session().client(
            "sagemaker-featurestore-runtime",
            config=Config(retries={"max_attempts": 10, "mode": "standard"}),
        )
        failed = 0
        for row in df[start:end].itertuples():
            record = [
                {"FeatureName": df.columns[i - 1], "ValueAsString": str(row[i])}
                for i in range(1, len(row))
                if pd.notna(row[i])
            ]
            try:
                client.put_record(FeatureGroupName=group, Record=record)
            except Exception:  # the SDK counts a failed row and goes on
                failed += 1
        return failed

    with ThreadPoolExecutor(max_workers=workers) as ex:
        futures = [ex.submit(one_slice, a, b) for a, b in slices(len(df), workers)]
        return sum(f.result() for f in futures)


def reproduced(group, df, workers, processes):
    """The SDK's algorithm with boto3; returns its seconds and the failed rows."""
    from concurrent.futures import ProcessPoolExecutor

    t = time.perf_counter()
    if processes == 1:
        failed = reproduced_part(group, df, workers)
    else:
        with ProcessPoolExecutor(max_workers=processes) as ex:
            futures = [
                ex.submit(reproduced_part, group, df[a:b], workers)
                for a, b in slices(len(df), processes)
            ]
            failed = sum(f.result() for f in futures)
    return time.perf_counter() - t, failed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--create", action="store_true")
    ap.add_argument("--input")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--processes", type=int, default=1)
    ap.add_argument("--reproduce", action="store_true")
    a = ap.parse_args()
    environment(a.endpoint)
    if a.create:
        create(a.group)
        return
    import pyarrow.parquet as pq

    df = pq.read_table(a.input).to_pandas()
    sdk = not a.reproduce
    if sdk:
        try:
            import sagemaker.feature_store.feature_group  # noqa: F401
        except Exception as e:  # the SDK is optional: say so and reproduce it
            print(f"sdk_ingest: the SageMaker SDK cannot be imported ({e}); reproducing its algorithm", file=sys.stderr)
            sdk = False
    run = with_sdk if sdk else reproduced
    secs, failed = run(a.group, df, a.workers, a.processes)
    result("sdk_ingest", len(df) / secs, "rows/s")
    result("sdk_rows_written", len(df) - failed, "rows")
    result("sdk_is_sagemaker", 1 if sdk else 0, "flag")


if __name__ == "__main__":
    main()
