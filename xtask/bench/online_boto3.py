"""The boto3 anchor of the online pair: GetRecord and a 1,000-id
BatchGetRecord against the fs-server that `server --endpoint` measures.

The records are the ones `server --populate` wrote: group `bench`, ids
`id-0` .. `id-<records-1>`, 20 features. Retries are off (one attempt) so
that every sample is one request, as on the Rust side. The ids are drawn as
on the Rust side: each GetRecord's uniformly at random (with replacement),
each batch's 1,000 distinct ids uniformly at random (without replacement).

    python online_boto3.py --endpoint URL --records N --gets G --batches B
"""

import argparse
import random
import time

import boto3
from botocore.config import Config

from _common import CREDENTIALS, report_latencies


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--records", type=int, required=True)
    ap.add_argument("--gets", type=int, required=True)
    ap.add_argument("--batches", type=int, required=True)
    a = ap.parse_args()
    client = boto3.client(
        "sagemaker-featurestore-runtime",
        endpoint_url=a.endpoint,
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
        **CREDENTIALS,
    )
    rng = random.Random(88172645463325252)

    def next_id():
        return f"id-{rng.randrange(a.records)}"

    for _ in range(200):
        client.get_record(FeatureGroupName="bench", RecordIdentifierValueAsString=next_id())
    samples = []
    for _ in range(a.gets):
        rid = next_id()
        t = time.perf_counter()
        r = client.get_record(FeatureGroupName="bench", RecordIdentifierValueAsString=rid)
        samples.append(time.perf_counter() - t)
        assert r.get("Record"), f"no record {rid}"
    report_latencies("boto3_get_record_20_features", samples)

    # One BatchGetRecord call: ten entries of 100 ids (the API's limits).
    samples = []
    for _ in range(a.batches):
        ids = [f"id-{i}" for i in rng.sample(range(a.records), 1000)]
        entries = [
            {"FeatureGroupName": "bench", "RecordIdentifiersValueAsString": ids[i : i + 100]}
            for i in range(0, 1000, 100)
        ]
        t = time.perf_counter()
        r = client.batch_get_record(Identifiers=entries)
        samples.append(time.perf_counter() - t)
        got = len(r["Records"])
        assert got == 1000 and not r["Errors"], f"batch get returned {got} records, {r['Errors'][:3]}"
    report_latencies("boto3_batch_get_1000", samples)


if __name__ == "__main__":
    main()
