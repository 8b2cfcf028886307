#!/usr/bin/env python3
"""fit_erf.py — the rational approximation of erfcx that cpu/vec_body.inc's v_gelu uses.

gelu(x) = x Phi(x) with Phi = 1 - e (x >= 0) or e (x < 0), e = erfc(|z|) / 2 = e^(-z^2) erfcx(|z|) / 2,
z = x / sqrt2. erfcx(z) = erfc(z) e^(z^2) is smooth and slowly varying on [0, 6], so a rational
P(z) / Q(z) of degree 4 / 4 (Q(0) = 1) holds it to a few 1e-7 relative; beyond 6, e < 1e-16. Fitted by
iterated reweighted linear least squares on the relative error (the linearised error P - erfcx Q, weighted by
1 / (|Q| erfcx) of the previous pass) against math.erfc * math.exp in double on 6,001 points. Prints the f32
coefficients (lowest power first) and the largest relative error of the fit evaluated in f32 arithmetic
(numpy float32, Horner, one division). Only numpy is needed.

    python3 tools/fit_erf.py
"""
import math

import numpy as np

NP, NQ, HI = 4, 4, 6.0


def fit(z, y, iters=40):
    w = np.abs(y).copy()
    best = None
    for _ in range(iters):
        a = np.zeros((len(z), NP + 1 + NQ))
        for i in range(NP + 1):
            a[:, i] = z ** i
        for j in range(1, NQ + 1):
            a[:, NP + j] = -y * z ** j
        c, *_ = np.linalg.lstsq(a / w[:, None], y / w, rcond=None)
        p, q = c[:NP + 1], np.concatenate([[1.0], c[NP + 1:]])
        qv = sum(q[j] * z ** j for j in range(NQ + 1))
        r = sum(p[i] * z ** i for i in range(NP + 1)) / qv
        w = np.abs(qv) * np.abs(y)
        err = np.max(np.abs(r / y - 1))
        if best is None or err < best[0]:
            best = (err, p.copy(), q.copy())
    return best


def horner_f32(c, z):
    v = np.float32(c[-1])
    for k in c[-2::-1]:
        v = (v * z + np.float32(k)).astype(np.float32)
    return v


def main():
    z = np.linspace(0.0, HI, 6001)
    y = np.array([math.erfc(v) * math.exp(v * v) for v in z])
    err, p, q = fit(z, y)
    print("P (z^0 .. z^4):", ", ".join("%.9ef" % np.float32(c) for c in p))
    print("Q (z^0 .. z^4):", ", ".join("%.9ef" % np.float32(c) for c in q))
    print("fit in double: max relative error %.3g" % err)
    z32 = z.astype(np.float32)
    got = (horner_f32(p, z32) / horner_f32(q, z32)).astype(np.float32).astype(np.float64)
    print("in f32: max relative error %.3g" % np.max(np.abs(got / y - 1)))


if __name__ == "__main__":
    main()
