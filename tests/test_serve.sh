#!/usr/bin/env bash
# test_serve.sh — `senti serve` through a real HTTP client (curl): every
# endpoint's answer against the CLI's output for the same texts (classify,
# embed, tokenize, generate), the error statuses (404, 405, 413, 422, 424,
# 429, 503), the request deadline, and SIGTERM finishing a queued request before the server exits 0.
# Usage: test_serve.sh SENTI_BINARY SOURCE_DIR. Exit 77 (skipped) when the
# binary has no HTTP support or curl / python3 (for comparing JSON) is missing.
# Bounded: every curl has --max-time, every wait a deadline.
set -uo pipefail
senti=$1
root=$2
for tool in curl python3; do
  command -v "$tool" >/dev/null || { echo "skipped: $tool not found"; exit 77; }
done
if "$senti" serve --port -1 2>&1 | grep -q "without HTTP support"; then
  echo "skipped: senti was built without libmicrohttpd"
  exit 77
fi
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
fails=0
check() { # check NAME COND_RC
  if [ "$2" -eq 0 ]; then echo "ok   $1"; else echo "FAIL $1"; fails=$((fails + 1)); fi
}
CURL=(curl -s --max-time 20)

# start NAME ARGS...: a server on a free loopback port; sets $port and $pid
start() {
  local name=$1
  shift
  "$senti" serve --port 0 --port-file "$tmp/$name.port" "$@" >"$tmp/$name.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 200); do
    [ -s "$tmp/$name.port" ] && break
    kill -0 "$pid" 2>/dev/null || { cat "$tmp/$name.log"; echo "FAIL $name did not start"; exit 1; }
    sleep 0.05
  done
  port=$(cat "$tmp/$name.port")
}
post() { "${CURL[@]}" -o "$tmp/body" -w '%{http_code}' -X POST "http://127.0.0.1:$port$1" -H 'Content-Type: application/json' --data-binary "$2"; }
stop() { # stop PID: SIGTERM, then it must exit 0
  kill -TERM "$1"
  local rc=0
  wait "$1" || rc=$?
  return $rc
}

# Compare JSON: python3 -c "$PY" MODE ARGS (numbers compared as their printed text)
PY='
import json, sys
S = lambda s: json.loads(s, parse_float=str)
mode = sys.argv[1]
if mode == "predict":   # server [ {label,score} ] (or [[...]]) vs CLI lines: same numbers, best first
    srv, cli = S(open(sys.argv[2]).read()), [S(l) for l in open(sys.argv[3])]
    srv = srv if isinstance(srv[0], list) else [srv]
    assert len(srv) == len(cli), (len(srv), len(cli))
    for s, c in zip(srv, cli):
        assert {d["label"]: d["score"] for d in s} == c["scores"], (s, c)
        assert s[0]["label"] == c["label"] and s[0]["score"] == c["score"], (s, c)
        assert all(float(a["score"]) >= float(b["score"]) for a, b in zip(s, s[1:])), s
elif mode == "concurrent":  # DIR/conc<i>.json (one input each) vs CLI line i
    cli = [S(l) for l in open(sys.argv[3])]
    for i, c in enumerate(cli):
        s = S(open("%s/conc%d.json" % (sys.argv[2], i)).read())[0]
        assert {d["label"]: d["score"] for d in s} == c["scores"] and s[0]["label"] == c["label"], (i, s, c)
elif mode == "raw":     # raw_scores: softmax of the logits gives the scores
    import math
    raw, srv = json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
    for r, s in zip(raw, srv):
        m = max(d["score"] for d in r); z = sum(math.exp(d["score"] - m) for d in r)
        p = {d["label"]: math.exp(d["score"] - m) / z for d in r}
        assert all(abs(p[d["label"]] - d["score"]) < 1e-6 for d in s), (r, s)
elif mode == "embed":
    srv, cli = S(open(sys.argv[2]).read()), [S(l) for l in open(sys.argv[3])]
    assert srv == [c["embedding"] for c in cli], "embeddings differ"
elif mode == "tokenize":
    srv, cli = json.load(open(sys.argv[2])), [json.loads(l) for l in open(sys.argv[3])]
    for s, c in zip(srv, cli):
        assert [t["id"] for t in s] == c["ids"] and [t["text"] for t in s] == c["tokens"], (s, c)
        assert [[t["start"], t["stop"]] for t in s] == c["offsets"], (s, c)
elif mode == "complete":
    srv, cli = json.load(open(sys.argv[2])), [json.loads(l) for l in open(sys.argv[3])]
    assert [c["text"] for c in srv["choices"]] == [c["text"] for c in cli], (srv, cli)
    assert srv["usage"]["completion_tokens"] == sum(len(c["ids"]) for c in cli), srv
elif mode == "logprobs":  # greedy: each chosen token is the most likely one
    srv = json.load(open(sys.argv[2]))
    lp = srv["choices"][0]["logprobs"]
    assert len(lp["tokens"]) == srv["usage"]["completion_tokens"] > 0, lp
    for tok, l, top in zip(lp["tokens"], lp["token_logprobs"], lp["top_logprobs"]):
        assert l <= 0 and abs(max(top.values()) - l) < 1e-9, (tok, l, top)
elif mode == "echo":    # echo + max_tokens 0: the prompt scored, first token without a log-prob
    srv = json.load(open(sys.argv[2]))
    lp = srv["choices"][0]["logprobs"]
    assert lp["token_logprobs"][0] is None and len(lp["tokens"]) == srv["usage"]["prompt_tokens"], lp
    assert all(l < 0 for l in lp["token_logprobs"][1:]), lp
    assert srv["choices"][0]["text"] == sys.argv[3], srv
elif mode == "metric":  # metric NAME MIN: the sample value >= MIN
    for line in open(sys.argv[2]):
        if line.startswith(sys.argv[3] + " "):
            assert float(line.split()[-1]) >= float(sys.argv[4]), line; break
    else:
        raise AssertionError("no " + sys.argv[3])
'
py() { python3 -S "$@"; } # -S: no site packages, a faster start (json and math only)
cmp_json() { py -c "$PY" "$@"; }

# ---- a sequence classifier (the embedded SST-2 model) -------------------------------
model=$root/models/sst2-minilm-l6-q8_0.gguf
texts=("I loved this movie, it was wonderful." "Dull, slow and far too long." "ok" "Ünïcödé façade — not bad at all")
long=$(printf 'great %.0s' $(seq 700))
printf '%s\n' "${texts[@]}" >"$tmp/texts.txt"
"$senti" classify -m "$model" --input "$tmp/texts.txt" >"$tmp/cli.jsonl" 2>/dev/null
"$senti" classify -m "$model" "$long" >"$tmp/cli_long.jsonl" 2>/dev/null
"$senti" classify -m "$model" "${texts[0]}" >"$tmp/cli0.jsonl" 2>/dev/null
start cls -m "$model" --max-body-bytes 65536 --batch-delay-ms 100
batch=$(py -c 'import json,sys; print(json.dumps({"inputs": open(sys.argv[1]).read().splitlines()}))' "$tmp/texts.txt")
[ "$("${CURL[@]}" -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health")" = 200 ]; check "GET /health" $?
c=$(post /predict "$batch"); cp "$tmp/body" "$tmp/pred.json"
[ "$c" = 200 ] && cmp_json predict "$tmp/pred.json" "$tmp/cli.jsonl"; check "/predict batch == senti classify" $?
one=$(py -c 'import json,sys; print(json.dumps({"inputs": sys.argv[1]}))' "${texts[0]}")
c=$(post /predict "$one")
[ "$c" = 200 ] && cmp_json predict "$tmp/body" "$tmp/cli0.jsonl"; check "/predict one text == senti classify" $?
c=$(post /predict "${batch%\}},\"raw_scores\":true}"); cp "$tmp/body" "$tmp/raw.json"
[ "$c" = 200 ] && cmp_json raw "$tmp/raw.json" "$tmp/pred.json"; check "/predict raw_scores: softmax(logits) == scores" $?
c=$(post /predict "{\"inputs\":[\"$long\"]}")
[ "$c" = 413 ]; check "/predict 700 words without truncate: 413 ($c)" $?
c=$(post /predict "{\"inputs\":[\"$long\"],\"truncate\":true}")
[ "$c" = 200 ] && cmp_json predict "$tmp/body" "$tmp/cli_long.jsonl"; check "/predict truncate == senti classify (truncates)" $?
# concurrent requests: each answer is its own text's CLI line whatever its batch mates
py -c 'import json,sys
for i, t in enumerate(open(sys.argv[1]).read().splitlines()):
    open("%s/req%d.json" % (sys.argv[2], i), "w").write(json.dumps({"inputs": [t]}))' "$tmp/texts.txt" "$tmp"
for i in 0 1 2 3; do
  "${CURL[@]}" -o "$tmp/conc$i.json" -X POST "http://127.0.0.1:$port/predict" --data-binary @"$tmp/req$i.json" &
done
wait $(jobs -p | grep -v -w -e "${pids[0]}") 2>/dev/null || true
cmp_json concurrent "$tmp" "$tmp/cli.jsonl"; check "4 concurrent /predict == senti classify each" $?
"$senti" tokenize -m "$model" --input "$tmp/texts.txt" >"$tmp/tok_cli.jsonl"
c=$(post /tokenize "$batch")
[ "$c" = 200 ] && cmp_json tokenize "$tmp/body" "$tmp/tok_cli.jsonl"; check "/tokenize == senti tokenize" $?
c=$(post /embed '{"inputs":"x"}'); [ "$c" = 424 ]; check "/embed on a classifier: 424 ($c)" $?
c=$(post /v1/completions '{"prompt":"x"}'); [ "$c" = 424 ]; check "/v1/completions on a classifier: 424 ($c)" $?
c=$(post /predict '{"inputs":'); [ "$c" = 422 ]; check "/predict bad JSON: 422 ($c)" $?
c=$(post /predict '{"inputs":[1]}'); [ "$c" = 422 ]; check "/predict non-string input: 422 ($c)" $?
c=$(post /predict '{"inputs":"good","inputs":"bad"}'); [ "$c" = 422 ] && grep -q duplicate "$tmp/body"
check "/predict duplicate keys: 422, as the CLI's records ($c)" $?
c=$(post /nope '{}'); [ "$c" = 404 ]; check "unknown path: 404 ($c)" $?
c=$("${CURL[@]}" -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/predict"); [ "$c" = 405 ]; check "GET /predict: 405 ($c)" $?
py -c 'print("{\"inputs\":\"" + "a" * 70000 + "\"}")' >"$tmp/big.json"
c=$("${CURL[@]}" -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$port/predict" --data-binary @"$tmp/big.json")
[ "$c" = 413 ]; check "body over --max-body-bytes: 413 ($c)" $?
# a declared oversized body is refused at its headers: no 100 Continue, nothing read
"${CURL[@]}" -v -o /dev/null -H 'Expect: 100-continue' -X POST "http://127.0.0.1:$port/predict" \
  --data-binary @"$tmp/big.json" 2>"$tmp/v.txt"
grep -q '^< HTTP/1.1 413' "$tmp/v.txt" && ! grep -q '100 Continue' "$tmp/v.txt"
check "declared oversized body: 413 at its headers, no 100 Continue" $?
# framing libmicrohttpd lets through: a transfer coding other than chunked (501), disagreeing Content-Lengths (400)
raw_status() { py -c 'import socket,sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1]))); s.settimeout(10)
s.sendall(sys.argv[2].encode().decode("unicode_escape").encode("latin-1")); print(s.recv(64).split(b" ")[1].decode())' "$port" "$1"; }
c=$(raw_status 'POST /predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nabc'); [ "$c" = 501 ]
check "Transfer-Encoding gzip: 501 ($c)" $?
c=$(raw_status 'POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 40\r\n\r\n{}'); [ "$c" = 400 ]
check "disagreeing Content-Length headers: 400 ($c)" $?
c=$(raw_status 'POST /predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\n{}\n\r\n0\r\n\r\n')
[ "$c" = 400 ]; check "Transfer-Encoding and Content-Length both: 400 ($c)" $?
# An outside probe's findings (2026-12-07): each answer below a JSON error with its status, never a closed
# connection or a 500 "out of memory". raw_reply REQUEST [CHUNKED_BODY_BYTES]: "STATUS ALLOW-HEADER VALID-JSON"
raw_reply() { py -c 'import json,socket,sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1]))); s.settimeout(10)
req = sys.argv[2].encode().decode("unicode_escape").encode("latin-1")
n = int(sys.argv[3])
if n:  # a chunked body of n bytes in 1000-byte chunks
    body = b"{\"inputs\":\"" + b"a" * (n - 13) + b"\"}"
    req += b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 1000]), body[i:i + 1000]) for i in range(0, n, 1000)) + b"0\r\n\r\n"
s.sendall(req)
r = b""
while True:
    d = s.recv(65536)
    if not d: break
    r += d
    if b"\r\n\r\n" in r:
        h, b = r.split(b"\r\n\r\n", 1)
        cl = [int(l.split(b":")[1]) for l in h.split(b"\r\n") if l.lower().startswith(b"content-length:")]
        if cl and len(b) >= cl[0]: break
h, b = r.split(b"\r\n\r\n", 1) if r else (b"HTTP/1.1 0", b"")
allow = [l.split(b":", 1)[1].strip().decode() for l in h.split(b"\r\n") if l.lower().startswith(b"allow:")]
try: ok = "error" in json.loads(b.decode("utf-8"))
except Exception: ok = False
print(h.split(b" ")[1].decode(), (allow or ["-"])[0].replace(" ", ""), "json" if ok else "not-json")' "$port" "$1" "${2:-0}"; }
r=$(raw_reply 'POST /predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n' 70000)
[ "$r" = "413 - json" ]; check "chunked body over --max-body-bytes: 413 with its JSON ($r)" $?
r=$(raw_reply 'POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 16\r\nConnection: close\r\n\r\n{"inputs":"\\\xc3\x8d"}')
[ "$r" = "422 - json" ]; check "an escape before a 2-byte character: 422, valid JSON ($r)" $?
r=$(raw_reply 'G\xdbT /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
[ "$r" = "405 GET,HEAD json" ]; check "a method of invalid UTF-8: 405, Allow, valid JSON ($r)" $?
r=$(raw_reply 'POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')
[ "$r" = "405 GET,HEAD json" ]; check "POST /health: 405 with Allow ($r)" $?
c=$("${CURL[@]}" -o /dev/null -w '%{http_code}' -I "http://127.0.0.1:$port/health"); [ "$c" = 200 ]
check "HEAD /health: 200 ($c)" $?
for req in '/predict {"inputs":"good","truncate":"true"}' '/predict {"inputs":"good","raw_scores":1}' \
           '/tokenize {"inputs":"good","add_special_tokens":"no"}'; do
  c=$(post "${req%% *}" "${req#* }"); [ "$c" = 422 ] && grep -q 'must be true or false' "$tmp/body"
  check "a flag that is not a boolean: 422 (${req#* }: $c)" $?
done
# a request holds at most --max-batch-tokens tokens (8192 here): /predict and /tokenize alike
many=$(py -c 'import json; print(json.dumps({"inputs": ["good " * 100] * 100}))')
c=$(post /predict "$many"); [ "$c" = 413 ] && grep -q 'max-batch-tokens' "$tmp/body"; check "/predict over the request's tokens: 413 ($c)" $?
c=$(post /tokenize "$many"); [ "$c" = 413 ]; check "/tokenize over the request's tokens: 413 ($c)" $?
"${CURL[@]}" "http://127.0.0.1:$port/metrics" >"$tmp/metrics.txt"
cmp_json metric "$tmp/metrics.txt" 'senti_requests_total{endpoint="/predict",code="200"}' 8 &&
  cmp_json metric "$tmp/metrics.txt" 'senti_batch_size_count' 1 &&
  grep -q '^senti_queue_depth 0$' "$tmp/metrics.txt" &&
  grep -q 'senti_request_duration_seconds_bucket{endpoint="/predict",le="+Inf"}' "$tmp/metrics.txt"
check "/metrics: request counts, batch sizes, queue depth, latency histogram" $?
echo "     batches: $(grep -E '^senti_batch_size_(count|sum)' "$tmp/metrics.txt" | tr '\n' ' ')"
stop "$pid"; check "SIGTERM on an idle server: exit 0" $?

# ---- queue limits and shutdown: a request held in the queue by --batch-delay-ms ------------
start q -m "$model" --max-queue 1 --batch-delay-ms 20000 --timeout-ms 25000
"${CURL[@]}" -o "$tmp/held.json" -w '%{http_code}' -X POST "http://127.0.0.1:$port/predict" --data-binary "$one" >"$tmp/held.code" &
held=$!
for _ in $(seq 200); do
  "${CURL[@]}" "http://127.0.0.1:$port/metrics" | grep -q '^senti_queue_depth 1$' && break
  sleep 0.05
done
c=$(post /predict "$one"); [ "$c" = 429 ]; check "queue full (--max-queue 1): 429 ($c)" $?
stop "$pid"; check "SIGTERM with a request queued: exit 0" $?
wait "$held" || true
[ "$(cat "$tmp/held.code")" = 200 ] && cmp_json predict "$tmp/held.json" "$tmp/cli0.jsonl"
check "the queued request was answered before exit (200, == senti classify)" $?
c=$("${CURL[@]}" -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health" || true)
[ "$c" = 000 ]; check "after exit nothing listens ($c)" $?

start t -m "$model" --batch-delay-ms 20000 --timeout-ms 300
c=$(post /predict "$one"); [ "$c" = 503 ]; check "still queued at --timeout-ms: 503 ($c)" $?
stop "$pid"; check "SIGTERM: exit 0" $?

# ---- the request deadline: a client trickling its request is cut off; a slow answer is not ---------
start rt -m "$model" --request-timeout-ms 1000 --batch-delay-ms 2000 --timeout-ms 10000
"${CURL[@]}" -o "$tmp/slow.json" -w '%{http_code}' -X POST "http://127.0.0.1:$port/predict" --data-binary "$one" >"$tmp/slow.code" &
slow=$!
r=$(py -c 'import socket,sys,time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1]))); s.settimeout(0.1)
req = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 4000\r\n\r\n" + b" " * 4000
t0 = time.time()
for b in req:  # a byte every 0.1 s: libmicrohttpd alone keeps such a connection
    if time.time() - t0 > 15: print("open"); break
    try:
        s.send(bytes([b]))
        if s.recv(64) == b"": print("closed"); break
    except socket.timeout: pass
    except OSError: print("closed"); break' "$port")
[ "$r" = closed ]; check "a request trickled a byte at a time is closed at --request-timeout-ms ($r)" $?
wait "$slow" || true
[ "$(cat "$tmp/slow.code")" = 200 ] && cmp_json predict "$tmp/slow.json" "$tmp/cli0.jsonl"
check "a request answered after --request-timeout-ms (held 2 s by --batch-delay-ms) is answered" $?
"${CURL[@]}" "http://127.0.0.1:$port/metrics" >"$tmp/metrics.txt"
grep -q '^senti_connections_timed_out_total [1-9]' "$tmp/metrics.txt"; check "/metrics counts the closed connection" $?
# a client that sends its request and hangs up while it is queued (2 s of --batch-delay-ms) loses its place
py -c 'import socket,sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
b = sys.argv[2].encode()
s.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(b) + b); s.close()' "$port" "$one"
gone=1
for _ in $(seq 40); do
  "${CURL[@]}" "http://127.0.0.1:$port/metrics" | grep -q '^senti_client_gone_total 1$' && { gone=0; break; }
  sleep 0.05
done
check "a queued request whose client hung up is dropped (senti_client_gone_total 1)" $gone
stop "$pid"; check "SIGTERM: exit 0" $?

# ---- a base encoder: /embed == senti embed -----------------------------------------------
tokjs=$root/../shared/assets/tokenizers/bert-base-uncased/tokenizer.json
if [ -r "$tokjs" ]; then
  "$senti" embed -m "$root/tests/fixtures/embed" --tokenizer "$tokjs" --input "$tmp/texts.txt" >"$tmp/emb_cli.jsonl" 2>/dev/null
  start emb -m "$root/tests/fixtures/embed" --tokenizer "$tokjs"
  c=$(post /embed "$batch")
  [ "$c" = 200 ] && cmp_json embed "$tmp/body" "$tmp/emb_cli.jsonl"; check "/embed == senti embed" $?
  c=$(post /predict '{"inputs":"x"}'); [ "$c" = 424 ]; check "/predict on a base encoder: 424 ($c)" $?
  stop "$pid"; check "SIGTERM: exit 0" $?
else
  echo "skip /embed: $tokjs not found"
fi

# ---- a causal LM: /v1/completions == senti generate, logprobs -------------------------------
lm=$root/tests/fixtures/llm/llama
"$senti" generate -m "$lm" --temperature 0 --max-new-tokens 6 "The movie was" "I did not like" >"$tmp/gen_cli.jsonl" 2>/dev/null
start lm -m "$lm"
c=$(post /v1/completions '{"prompt":["The movie was","I did not like"],"max_tokens":6,"temperature":0}')
[ "$c" = 200 ] && cmp_json complete "$tmp/body" "$tmp/gen_cli.jsonl"; check "/v1/completions == senti generate" $?
c=$(post /v1/completions '{"prompt":"The movie was","max_tokens":6,"temperature":0,"logprobs":1}')
[ "$c" = 200 ] && cmp_json logprobs "$tmp/body"; check "/v1/completions logprobs: greedy picks the top token" $?
c=$(post /v1/completions '{"prompt":"The movie was great","max_tokens":0,"echo":true,"logprobs":0}')
[ "$c" = 200 ] && cmp_json echo "$tmp/body" "The movie was great"; check "/v1/completions echo + max_tokens 0: prompt log-probs" $?
c=$(post /v1/completions '{"prompt":"x","n":2}'); [ "$c" = 422 ]; check "/v1/completions n=2: 422 ($c)" $?
stop "$pid"; check "SIGTERM: exit 0" $?

# concurrent completions of equal settings generate as one batch, each equal to senti generate's
start lm2 -m "$lm" --batch-delay-ms 1500
i=0
for p in "The movie was" "I did not like" "great acting"; do
  "${CURL[@]}" -o "$tmp/conc$i" -X POST "http://127.0.0.1:$port/v1/completions" -H 'Content-Type: application/json' \
    --data-binary "{\"prompt\":\"$p\",\"max_tokens\":6,\"temperature\":0}" &
  i=$((i + 1))
done
wait $(jobs -p | grep -v "^$pid$") 2>/dev/null
"$senti" generate -m "$lm" --temperature 0 --max-new-tokens 6 "The movie was" "I did not like" "great acting" \
  >"$tmp/conc_cli.jsonl" 2>/dev/null
ok=0
for i in 0 1 2; do
  sed -n "$((i + 1))p" "$tmp/conc_cli.jsonl" >"$tmp/conc_cli$i.jsonl"
  cmp_json complete "$tmp/conc$i" "$tmp/conc_cli$i.jsonl" || ok=1
done
"${CURL[@]}" "http://127.0.0.1:$port/metrics" >"$tmp/metrics2.txt"
[ $ok = 0 ] && grep -q '^senti_batch_size_count 1$' "$tmp/metrics2.txt" && grep -q '^senti_batch_size_sum 3$' "$tmp/metrics2.txt"
check "3 concurrent /v1/completions: one batch, each == senti generate" $?
stop "$pid"; check "SIGTERM: exit 0" $?

[ "$fails" -eq 0 ] || { echo "$fails check(s) failed"; exit 1; }
echo "all serve checks passed"
