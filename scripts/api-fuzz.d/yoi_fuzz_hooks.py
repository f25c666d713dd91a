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
    queued = _queue_on_holder()
    message_id = queued.json().get("message_id")
    if queued.status_code == 202 and queued.json().get("queued") and message_id:
        params["worker_id"] = _HOLDER
        params["message_id"] = message_id


def _queue_on_holder():
    """Queues an input on the holder, keeping it busy and its queue open.

    The holder's run that never ends may have ended after all (a long fuzz
    run meets a provider time limit): a new one is started, harmless (`busy`)
    while the old one runs. Cases that did not delete their input (a bad
    header, say) leave it queued: a full queue is emptied.
    """
    worker = f"{_BASE}/api/runtimes/backend-internal/workers/{_HOLDER}"
    requests.post(f"{worker}/input", json={"text": "[[hang]]"}, timeout=10)
    queued = requests.post(f"{worker}/input", json={"text": "waits", "on_busy": "queue"}, timeout=10)
    if queued.status_code == 409:
        for entry in requests.get(worker, timeout=10).json().get("queue", []):
            requests.delete(f"{worker}/queue/{entry['message_id']}", timeout=10)
        queued = requests.post(f"{worker}/input", json={"text": "waits", "on_busy": "queue"}, timeout=10)
    return queued
