#!/usr/bin/env python3
"""fit_erf.py — the rational approximation of erf that cpu/vec_body.inc's v_gelu uses.

erf(z) ~ z P(z^2) / Q(z^2) on 0 <= z <= 4 (odd, so any sign; beyond 4 f32's erf is +-1), P of degree 6 and Q of
degree 5 with Q(0) = 1, fitted by iterated reweighted linear least squares (the linearised error
z P - erf Q, weighted by 1/Q of the previous pass) against math.erf in double on 20,001 points. It prints the
f32 coefficients in the order v_gelu's Horner steps use them and the maximum |error| of the fit evaluated in f32
arithmetic (numpy float32, Horner, one division) per interval. Only numpy is needed.

    python3 tools/fit_erf.py
"""
import math

import numpy as np

NP, NQ, LO, HI = 6, 5, 1e-6, 4.0


def fit(iters=30):
    x = np.linspace(LO, HI, 20001)
    y = np.array([math.erf(v) for v in x])
    s = x * x
    w = np.ones_like(x)
    best = None
    for _ in range(iters):
        a = np.zeros((len(x), NP + 1 + NQ))
        for i in range(NP + 1):
            a[:, i] = x * s ** i
        for j in range(1, NQ + 1):
            a[:, NP + j] = -y * s ** j
        c, *_ = np.linalg.lstsq(a / w[:, None], y / w, rcond=None)
        p, q = c[:NP + 1], np.concatenate([[1.0], c[NP + 1:]])
        qv = sum(q[j] * s ** j for j in range(NQ + 1))
        w = np.abs(qv)
        err = np.max(np.abs(x * sum(p[i] * s ** i for i in range(NP + 1)) / qv - y))
        if best is None or err < best[0]:
            best = (err, p.copy(), q.copy())
    return best


def eval_f32(p, q, z):
    s = (z * z).astype(np.float32)
    pv = np.float32(p[-1])
    for c in p[-2::-1]:
        pv = (pv * s + np.float32(c)).astype(np.float32)
    qv = np.float32(q[-1])
    for c in q[-2::-1]:
        qv = (qv * s + np.float32(c)).astype(np.float32)
    return np.clip((z * pv / qv).astype(np.float32), -1, 1)


def main():
    err, p, q = fit()
    print("P (z^0 .. z^12):", ", ".join("%.9ef" % np.float32(c) for c in p))
    print("Q (z^0 .. z^10):", ", ".join("%.9ef" % np.float32(c) for c in q))
    print("fit in double: max |error| %.3g" % err)
    z = np.linspace(0, HI, 40001).astype(np.float32)
    ref = np.array([math.erf(float(v)) for v in z])
    got = eval_f32(p, q, z).astype(np.float64)
    for a, b in ((0, 0.5), (0.5, 1), (1, 2), (2, 3), (3, 4.01)):
        m = (z >= a) & (z < b)
        print("z in [%g, %g): max |error| in f32 %.3g" % (a, min(b, HI), np.max(np.abs(got[m] - ref[m]))))


if __name__ == "__main__":
    main()
