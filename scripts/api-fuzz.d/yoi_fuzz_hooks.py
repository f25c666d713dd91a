"""schemathesis hooks of scripts/api-fuzz.

A request to a WebSocket route with the upgrade headers is answered 101 and
its connection becomes a WebSocket. The HTTP client does not know that and
would send the next request on it; so after a 101 its pooled connections
are dropped and the next request opens a new one.
"""

import requests

_send = requests.Session.send


def _send_without_reusing_upgraded(self, request, **kwargs):
    response = _send(self, request, **kwargs)
    if response.status_code == 101:
        self.get_adapter(request.url).poolmanager.clear()
    return response


requests.Session.send = _send_without_reusing_upgraded


# Each DELETE of a queued input names one that is queued: an input is queued
# on a worker kept busy for it (`YOI_FUZZ_HOLDER` of the backend at
# `YOI_FUZZ_BASE`) just before the call. Cases whose ids break their
# patterns are sent as they are (they test the 400).
import os
import re

import schemathesis

_ULID = re.compile(r"^[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26}$")
_BASE = os.environ.get("YOI_FUZZ_BASE", "")
_HOLDER = os.environ.get("YOI_FUZZ_HOLDER", "")


@schemathesis.hook
def before_call(context, case, kwargs):
    operation = context.operation
    if operation is None or operation.method.upper() != "DELETE" or not operation.path.endswith("/queue/{message_id}"):
        return
    params = case.path_parameters or {}
    ids = (str(params.get("worker_id", "")), str(params.get("message_id", "")))
    if params.get("runtime_id") != "backend-internal" or not all(_ULID.match(i) for i in ids):
        return
    queued = requests.post(
        f"{_BASE}/api/runtimes/backend-internal/workers/{_HOLDER}/input",
        json={"text": "waits", "on_busy": "queue"},
        timeout=10,
    )
    message_id = queued.json().get("message_id")
    if queued.status_code == 202 and message_id:
        params["worker_id"] = _HOLDER
        params["message_id"] = message_id
