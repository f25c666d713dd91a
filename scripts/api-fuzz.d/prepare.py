"""Prepares the workers scripts/api-fuzz gives real ids of, each on a worker
of its own that the fuzzer never names otherwise: a run in flight to cancel,
an input waiting in a queue, a tool call waiting for a person, a worker to
listen to and one to talk to. Prints them as shell assignments.

    python3 prepare.py BASE_URL
"""

import json
import sys
import time
import urllib.request

base = sys.argv[1]
workers = f"{base}/api/runtimes/backend-internal/workers"


def call(method, url, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def new_worker(name):
    return call("POST", workers, {"display_name": name})["worker_id"]


ids = {}
ids["runner"] = new_worker("fuzz-runner")
call("POST", f"{workers}/{ids['runner']}/input", {"text": "[[hang]]"})
ids["holder"] = new_worker("fuzz-holder")
call("POST", f"{workers}/{ids['holder']}/input", {"text": "[[hang]]"})
ids["asker"] = new_worker("fuzz-asker")
call("POST", f"{workers}/{ids['asker']}/input", {"text": "[[tool:yoi.list_workers {}]]"})
for _ in range(100):
    pending = call("GET", f"{workers}/{ids['asker']}").get("pending_approvals", [])
    if pending:
        ids["call"] = pending[0]["call_id"]
        break
    time.sleep(0.1)
else:
    sys.exit("api-fuzz: the tool call never waited for a decision")
ids["listened"] = new_worker("fuzz-listened")
ids["talker"] = new_worker("fuzz-talker")
for name, value in ids.items():
    print(f"{name}={value}")
