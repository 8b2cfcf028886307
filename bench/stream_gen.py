#!/usr/bin/env python3
# stream_gen.py TARGET_BYTES EVERY OUT — a JSONL of SST-2 train sentences, TARGET bytes: every EVERYth record a real
# {"id","text"} record (runs the model), the others {"id","text":[sentence]} (answered
# with an error line without the model), so a 1-2 GB file streams through reading,
# parsing and writing at I/O speed.
import json, sys
target, every, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
sents = [l.split('\t', 1)[1].rstrip('\n') for l in open('/work/shared/assets/data/sst2/train.tsv', encoding='utf-8')][1:]
n = 0; size = 0
with open(out, 'w', encoding='utf-8') as f:
    buf = []
    while size < target:
        s = sents[n % len(sents)]
        line = json.dumps({"id": n, "text": s} if n % every == 0 else {"id": n, "text": [s]}) + '\n'
        buf.append(line); size += len(line.encode()); n += 1
        if len(buf) == 100000: f.write(''.join(buf)); buf = []
    f.write(''.join(buf))
print(n, size)
