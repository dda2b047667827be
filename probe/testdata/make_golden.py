"""Makes golden.json for probe's tests: scikit-learn's logistic regression (exact
Newton, converged to 1e-12) on StandardScaler features, and solo-learn's weighted k-NN written in numpy.

    /usr/bin/python3 probe/testdata/make_golden.py probe/testdata/golden.json
"""
import json
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

rng = np.random.default_rng(7)
n, m, d = 60, 25, 5
x = rng.normal(size=(n + m, d)).astype(np.float32)
x[:, 2] *= 10  # unequal scales: standardisation matters
x[:, 3] += 4
w = np.array([1.5, -1.0, 0.05, 0.0, 0.7])
y = (x @ w + rng.normal(scale=1.5, size=n + m) > 1.0).astype(int)
xtr, ytr, xte = x[:n], y[:n], x[n:]

cases = []
for c, balanced in [(1.0, False), (0.05, True), (10.0, False)]:
    sc = StandardScaler().fit(xtr.astype(np.float64))
    lr = LogisticRegression(C=c, class_weight="balanced" if balanced else None,
                            solver="newton-cholesky", tol=1e-12, max_iter=1000).fit(sc.transform(xtr.astype(np.float64)), ytr)
    p = lr.predict_proba(sc.transform(xte.astype(np.float64)))[:, 1]
    cases.append({"c": c, "balanced": balanced, "weights": lr.coef_[0].tolist(),
                  "bias": float(lr.intercept_[0]), "scores": p.tolist()})


def knn(train, labels, test, k, t):
    a = train / np.linalg.norm(train, axis=1, keepdims=True)
    b = test / np.linalg.norm(test, axis=1, keepdims=True)
    sim = b @ a.T
    out = []
    for row in sim:
        idx = np.argsort(-row, kind="stable")[:k]
        wts = np.exp(row[idx] / t)
        out.append(float((wts * labels[idx]).sum() / wts.sum()))
    return out


knns = []
for k, t in [(20, 0.07), (5, 0.5), (200, 0.1)]:
    knns.append({"k": k, "t": t, "scores": knn(xtr.astype(np.float64), ytr, xte.astype(np.float64), min(k, n), t)})

json.dump({"n": n, "m": m, "d": d, "x": x.ravel().tolist(), "y": ytr.tolist(),
           "logistic": cases, "knn": knns}, open(sys.argv[1], "w"), indent=1)
