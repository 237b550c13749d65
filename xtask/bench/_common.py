"""Helpers shared by the benchmark anchor scripts of `cargo xtask bench`.

Every script prints its numbers as `RESULT name value unit` lines on
standard output, the format the Rust bench binaries use.
"""

import sys

# Dummy credentials: fs-server and moto check that requests are signed, not by whom.
CREDENTIALS = {
    "region_name": "us-east-1",
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
}


def result(name, value, unit):
    """Prints one result line."""
    print(f"RESULT {name} {value:.3f} {unit}")
    sys.stdout.flush()


def percentile(sorted_values, p):
    """The p-th quantile of an already sorted list (nearest rank, as the Rust benches)."""
    return sorted_values[round((len(sorted_values) - 1) * p)]


# The fewest samples a p99 is reported over (as the Rust benches): below it,
# only p50 and p90.
P99_MIN_SAMPLES = 1000


def report_latencies(name, seconds):
    """Prints p50, p90 and (over at least P99_MIN_SAMPLES) p99 of a list of
    durations in seconds, in microseconds."""
    s = sorted(seconds)
    result(f"{name}_p50", percentile(s, 0.50) * 1e6, "us")
    result(f"{name}_p90", percentile(s, 0.90) * 1e6, "us")
    if len(s) >= P99_MIN_SAMPLES:
        result(f"{name}_p99", percentile(s, 0.99) * 1e6, "us")
