"""aste.py — the ASTE-Data-V2 reader, without torch (common.py's training helpers and bench/dtype_gate.py share it)."""
import ast


def read_lines(path):
    """ASTE-Data-V2 `sentence####[(aspect_idx, opinion_idx, 'POS'|'NEG'|'NEU'), ...]` lines, blank ones skipped:
    [(words, [(aspect_idx, opinion_idx, polarity)])], words the sentence split on single spaces."""
    out = []
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        sent, trip = line.split("####")
        out.append((sent.split(" "), [tuple(t) for t in ast.literal_eval(trip)]))
    return out
