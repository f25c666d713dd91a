#!/usr/bin/env python3
"""Manual reproduction of issue 21's late Close, with the reporter's client.

    python3 -m venv /tmp/wsvenv && /tmp/wsvenv/bin/pip install websocket-client
    /tmp/wsvenv/bin/python scripts/repro-close-websocket-client.py target/debug/yoi [TRIES]

Starts an OpenAI-compatible mock whose answers stream short tokens forever (in
this process), and `yoi serve` against it in a temporary workspace. Each try
creates a worker, lets it stream, connects to its events socket with a cursor
50 events behind the live edge, reads those 50 frames slowly (5 ms each: the
stream outruns the client, as it outran the reporter's), then closes the way
`websocket-client`'s `WebSocket.close()` does (sends a Close, reads and
discards frames until the reply or 3 s) and prints how long the reply took and
what came first. Not run by CI: `tests/close_served.rs` is the test.
"""

import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import websocket
from websocket import ABNF

BEHIND = 50


class EndlessChat(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        i = 0
        try:
            while True:
                chunks = []
                for _ in range(50):
                    chunk = {
                        "id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m",
                        "choices": [{"index": 0, "delta": {"content": f"{i % 10} "}, "finish_reason": None}],
                    }
                    chunks.append("data: " + json.dumps(chunk) + "\n\n")
                    i += 1
                data = "".join(chunks).encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
        except OSError:
            return


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    yoi = os.path.abspath(sys.argv[1])
    tries = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    mock = ThreadingHTTPServer(("127.0.0.1", 0), EndlessChat)
    threading.Thread(target=mock.serve_forever, daemon=True).start()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ, OPENAI_BASE_URL=f"http://127.0.0.1:{mock.server_port}/v1",
               OPENAI_API_KEY="x", YOI_BIND=f"127.0.0.1:{port}")
    with tempfile.TemporaryDirectory() as workspace:
        server = subprocess.Popen([yoi, "serve", "--workspace", workspace], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            run(base, tries)
        finally:
            server.terminate()
            server.wait(10)


def run(base, tries):
    def req(method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        r = urllib.request.Request(base + path, data=data, method=method,
                                   headers={"content-type": "application/json"})
        with urllib.request.urlopen(r, timeout=10) as resp:
            return json.loads(resp.read())

    for _ in range(100):
        try:
            req("GET", "/api/health")
            break
        except OSError:
            time.sleep(0.1)
    worst = 0.0
    for attempt in range(1, tries + 1):
        worker = req("POST", "/api/runtimes/backend-internal/workers", {})["worker_id"]
        path = f"/api/runtimes/backend-internal/workers/{worker}"
        req("POST", path + "/input", {"text": "go"})
        while (edge := req("GET", path + "/transcript?limit=1")["seq"]) < 2000:
            time.sleep(0.01)
        ws = websocket.create_connection(base.replace("http", "ws") + path + f"/events?cursor={edge - BEHIND}")
        for _ in range(BEHIND):
            ws.recv()
            time.sleep(0.005)
        started = time.monotonic()
        ws.connected = False
        ws.send(struct.pack("!H", 1000), ABNF.OPCODE_CLOSE)
        ws.sock.settimeout(3)
        frames = size = 0
        answered = False
        while time.monotonic() - started < 3:
            try:
                frame = ws.recv_frame()
            except Exception:
                break
            if frame.opcode == ABNF.OPCODE_CLOSE:
                answered = True
                break
            frames += 1
            size += len(frame.data)
        took = time.monotonic() - started
        ws.shutdown()
        worst = max(worst, took)
        print(f"try {attempt}: {'Close' if answered else 'NO Close'} after {took * 1000:.0f} ms; "
              f"{frames} frames ({size} bytes) before it", flush=True)
        req("POST", path + "/cancel", {})
    print(f"worst: {worst * 1000:.0f} ms")


if __name__ == "__main__":
    main()
