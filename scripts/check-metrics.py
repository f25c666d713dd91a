#!/usr/bin/env python3
"""Parses a /metrics answer with the Prometheus org's own parser.

    check-metrics.py FILE

Reads FILE (the text of `GET /metrics` or `/v1/metrics`), parses it with
`prometheus_client`'s OpenMetrics parser (strict: it refuses text that is not
OpenMetrics, a missing `# EOF`, a bad sample or label, a counter without
`_total`), and prints every sample as one JSON object
`{"name{label=value,...}": value}` (labels sorted), for the caller to check
the counts. Exits non-zero, saying why, when the text does not parse.

Needs the `prometheus-client` package from PyPI (`.ci/run` installs it into a
virtualenv and names its python in YOI_PROMETHEUS_PYTHON).
"""

import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1], encoding="utf-8") as f:
        text = f.read()
    samples = {}
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                samples[f"{sample.name}{{{labels}}}"] = sample.value
    except Exception as e:  # the parser raises ValueError and friends
        print(f"the metrics do not parse: {e}", file=sys.stderr)
        return 1
    json.dump(samples, sys.stdout, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
