#!/usr/bin/env python3
"""serve_load.py — load test of `senti serve` on loopback: requests/s and p50 / p99 latency of POST
/predict at several client concurrencies (default 1, 8, 64), each client a thread with one keep-alive
connection sending one sentence per request; plus the server's batching from /metrics (inputs per
batch). Starts the server itself on a free 127.0.0.1 port and stops it with SIGTERM; bounded by
--seconds per level. Standard library only.

  python3 bench/serve_load.py --senti build/senti [-m MODEL] [--texts FILE] [--seconds 10]
                              [--concurrency 1,8,64] [--threads N] [--json OUT] [-- SERVE FLAGS...]
"""
import argparse
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def texts_from(path, n=2000):
    out = []
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f):
            if path.endswith(".tsv") and i == 0:
                continue  # the header
            t = line.rstrip("\n").split("\t")[0].strip()
            if t:
                out.append(t)
            if len(out) >= n:
                break
    return out


def metric(port, name):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", "/metrics")
    body = c.getresponse().read().decode()
    c.close()
    for line in body.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


def run_level(port, texts, clients, seconds):
    lat, errors, lock = [], [0], threading.Lock()
    stop_at = time.monotonic() + seconds

    def client(k):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine, i = [], k
        while time.monotonic() < stop_at:
            body = json.dumps({"inputs": texts[i % len(texts)], "truncate": True})
            i += clients
            t0 = time.monotonic()
            try:
                c.request("POST", "/predict", body, {"Content-Type": "application/json"})
                r = c.getresponse()
                r.read()
                ok = r.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                c.close()
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            dt = time.monotonic() - t0
            if ok:
                mine.append(dt)
            else:
                with lock:
                    errors[0] += 1
        c.close()
        with lock:
            lat.extend(mine)

    b0, n0 = metric(port, "senti_batch_size_sum"), metric(port, "senti_batch_size_count")
    t0 = time.monotonic()
    ts = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    wall = time.monotonic() - t0
    b1, n1 = metric(port, "senti_batch_size_sum"), metric(port, "senti_batch_size_count")
    lat.sort()
    q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else float("nan")
    return {"clients": clients, "requests": len(lat), "errors": errors[0], "seconds": round(wall, 2),
            "requests_per_s": round(len(lat) / wall, 1), "p50_ms": round(q(0.50), 2), "p99_ms": round(q(0.99), 2),
            "mean_batch": round((b1 - b0) / (n1 - n0), 2) if n1 > n0 else 0.0}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--senti", default=os.path.join(ROOT, "build", "senti"))
    ap.add_argument("-m", "--model", default=os.path.join(ROOT, "models", "sst2-minilm-l6-q8_0.gguf"))
    ap.add_argument("--texts", default=os.path.join(ROOT, "..", "shared", "assets", "data", "sst2", "dev.tsv"))
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--concurrency", default="1,8,64")
    ap.add_argument("--threads", type=int, default=0, help="the server's threads (0: all cores)")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("serve_flags", nargs="*", help="after --: more `senti serve` flags")
    a = ap.parse_args()
    texts = texts_from(a.texts)
    tmp = tempfile.mkdtemp()
    pf = os.path.join(tmp, "port")
    cmd = [a.senti, "serve", "-m", a.model, "--host", "127.0.0.1", "--port", "0", "--port-file", pf,
           "--max-queue", "4096"] + (["--threads", str(a.threads)] if a.threads else []) + a.serve_flags
    srv = subprocess.Popen(cmd, stderr=subprocess.PIPE)
    try:
        for _ in range(600):
            if os.path.exists(pf) and os.path.getsize(pf) > 0:
                break
            if srv.poll() is not None:
                sys.exit("serve_load: the server did not start: " + srv.stderr.read().decode())
            time.sleep(0.05)
        port = int(open(pf).read())
        run_level(port, texts, 4, min(2.0, a.seconds))  # warm-up
        load = os.getloadavg()
        res = {"command": " ".join(cmd), "texts": a.texts, "cpus": os.cpu_count(),
               "loadavg_before": [round(x, 2) for x in load], "levels": []}
        # the ceiling in the same conditions: the command over the same sentences, one process, no HTTP
        tf = os.path.join(tmp, "texts.txt")
        with open(tf, "w", encoding="utf-8") as f:
            f.write("\n".join(texts) + "\n")
        t0 = time.monotonic()
        subprocess.run([a.senti, "classify", "-m", a.model, "--input", tf] +
                       (["--threads", str(a.threads)] if a.threads else []), check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        res["cli_records_per_s"] = round(len(texts) / (time.monotonic() - t0), 1)
        print("senti classify --input (%d sentences, model load included): %.1f records/s" %
              (len(texts), res["cli_records_per_s"]))
        print("clients  requests/s   p50 ms   p99 ms  mean batch  errors")
        for c in [int(x) for x in a.concurrency.split(",")]:
            r = run_level(port, texts, c, a.seconds)
            res["levels"].append(r)
            print("%7d  %10.1f  %7.2f  %7.2f  %10.2f  %6d" % (c, r["requests_per_s"], r["p50_ms"], r["p99_ms"],
                                                           r["mean_batch"], r["errors"]))
        res["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
        print("load average before %s, after %s (%d CPUs)" % (res["loadavg_before"], res["loadavg_after"],
                                                              res["cpus"]))
        if a.json:
            with open(a.json, "w") as f:
                json.dump(res, f, indent=1)
    finally:
        srv.send_signal(signal.SIGTERM)
        try:
            srv.wait(timeout=60)
        except subprocess.TimeoutExpired:
            srv.kill()


if __name__ == "__main__":
    main()
