"""bindings_bench's Python side (protocol: bindings_bench.cpp, run_language):
"ready"; per "run", EDGEKEY_BENCH_PASSES (1) passes of Validator.validate over the sample, printed
as "rep WALL CPU" (ns per call; CPU: the thread's); on "done", "socket NS"
(best of 5 runs of the standard library's http.client, keep-alive, over
edgekeyd's Unix socket)."""
import http.client
import os
import socket
import sys
import time

import edgekey

TABLE = os.environ["EDGEKEY_BENCH_TABLE"]
SOCK = os.environ["EDGEKEY_BENCH_SOCKET"]
with open(os.environ["EDGEKEY_BENCH_TOKENS"]) as f:
    TOKENS = f.read().split("\n")[:-1]
PASSES = int(os.environ.get("EDGEKEY_BENCH_PASSES", "1"))


def binding_run(v):
    """(wall ns, thread CPU ns) per call."""
    validate = v.validate
    bad = 0
    t0, c0 = time.perf_counter_ns(), time.thread_time_ns()
    for _ in range(PASSES):
        for t in TOKENS:
            if not validate(t, permission="chat:write").ok:
                bad += 1
    wall, cpu = time.perf_counter_ns() - t0, time.thread_time_ns() - c0
    assert bad == 0, "%d calls were not 200" % bad
    calls = PASSES * len(TOKENS)
    return wall / calls, cpu / calls


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("edgekey")
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(self.unix_path)
        self.sock = s


def socket_run(conn, n):
    t0 = time.perf_counter_ns()
    for t in TOKENS[:n]:
        conn.request("GET", "/v1/validate", headers={"Authorization": t, "X-Edgekey-Permission": "chat:write"})
        r = conn.getresponse()
        r.read()
        assert r.status == 200, r.status
    return (time.perf_counter_ns() - t0) / n


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main():
    sys.stderr.write("bench.py: edgekey's %s path\n" % ("compiled (_speedups)" if edgekey._speedups else "cffi"))
    with edgekey.Validator(TABLE) as v:
        binding_run(v)  # warm-up
        say("ready")
        while sys.stdin.readline().strip() == "run":
            say("rep %.1f %.1f" % binding_run(v))
    conn = UnixHTTPConnection(SOCK)
    socket_run(conn, 200)
    say("socket %.1f" % min(socket_run(conn, 2000) for _ in range(5)))
    conn.close()


if __name__ == "__main__":
    main()
