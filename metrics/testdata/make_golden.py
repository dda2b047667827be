#!/usr/bin/python3
"""Writes golden.json, the reference values for the metrics package's tests.

Run with Debian's interpreter, which has scikit-learn 1.2.1, numpy and scipy:

    cd metrics/testdata && /usr/bin/python3 make_golden.py

Curves, areas and threshold metrics come from scikit-learn. The DeLong test
has no scikit-learn implementation, so it is computed here by an independent
numpy implementation of Sun & Xu (2014), "Fast implementation of DeLong's
algorithm for comparing the areas under correlated receiver operating
characteristic curves", IEEE Signal Processing Letters 21(11), using midranks
from scipy.stats.rankdata (the Go code counts ties per distinct score
instead).
"""

import json
import warnings

import numpy as np
import scipy.stats
import sklearn
from sklearn import metrics

warnings.simplefilter("ignore")  # zero-division warnings are part of the test
assert sklearn.__version__ == "1.2.1", sklearn.__version__


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def datasets():
    rng = np.random.default_rng(20240611)
    out = []

    def add(name, y, s):
        out.append((name, np.asarray(y, dtype=int), np.asarray(s, dtype=float)))

    add("sklearn_doc", [0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    add("two_points", [0, 1], [0.3, 0.7])
    y = rng.random(200) < 0.5
    add("balanced_continuous", y, sigmoid(1.2 * y + rng.normal(size=200)))
    y = rng.random(500) < 0.4
    add("heavy_ties", y, np.round(sigmoid(1.0 * y + rng.normal(size=500)), 1))
    y = np.zeros(1000, dtype=bool)
    y[rng.choice(1000, 20, replace=False)] = True
    add("imbalanced_2pct", y, sigmoid(1.5 * y - 2 + rng.normal(size=1000)))
    y = np.zeros(300, dtype=bool)
    y[rng.choice(300, 15, replace=False)] = True
    add("imbalanced_ties", y, np.round(4 * sigmoid(y + rng.normal(size=300))) / 4)
    y = np.zeros(20, dtype=bool)
    y[:7] = True
    add("all_tied", y, np.full(20, 0.5))
    add("perfect", [0, 0, 0, 1, 1], [0.1, 0.2, 0.3, 0.8, 0.9])
    add("inverted", [1, 1, 0, 0, 0], [0.1, 0.2, 0.3, 0.8, 0.9])
    add("collinear", [1, 1, 1, 0, 0, 0, 1, 0], [8, 7, 6, 5, 4, 3, 2, 1])
    y = np.zeros(1063, dtype=bool)
    y[rng.choice(1063, 246, replace=False)] = True
    add("study_like", y, sigmoid(1.8 * y - 1.2 + rng.normal(size=1063)))
    y = rng.random(150) < 0.3
    add("decision_function", y, np.round(y + rng.normal(size=150) * 1.3))
    return out


def best_fbeta(p, r, t, beta):
    # Same operations, in the same order, as metrics.BestFBeta.
    b2 = beta * beta
    p, r = p[:-1], r[:-1]
    num = (1 + b2) * p * r
    den = b2 * p + r
    f = np.zeros_like(num)
    np.divide(num, den, out=f, where=den != 0)
    i = int(np.argmax(f))
    return {"threshold": float(t[i]), "f": float(f[i]), "precision": float(p[i]), "recall": float(r[i])}


def curve_case(name, y, s):
    fpr, tpr, rt = metrics.roc_curve(y, s, drop_intermediate=True)
    pr, rc, pt = metrics.precision_recall_curve(y, s)
    thresholds = [0.5, float(np.median(s)), float(s.max() + 1), float(s.min())]
    if s.min() < 0:
        thresholds.append(0.0)
    tm = []
    for t in thresholds:
        yp = (s >= t).astype(int)
        tn, fp, fn, tp = metrics.confusion_matrix(y, yp, labels=[0, 1]).ravel()
        tm.append({
            "threshold": t,
            "tp": int(tp), "fp": int(fp), "tn": int(tn), "fn": int(fn),
            "accuracy": metrics.accuracy_score(y, yp),
            "balanced_accuracy": metrics.balanced_accuracy_score(y, yp),
            "mcc": metrics.matthews_corrcoef(y, yp),
            "precision": metrics.precision_score(y, yp, zero_division=0),
            "recall": metrics.recall_score(y, yp, zero_division=0),
            "f1": metrics.f1_score(y, yp, zero_division=0),
        })
    return {
        "name": name,
        "labels": y.tolist(),
        "scores": s.tolist(),
        "auroc": metrics.roc_auc_score(y, s),
        "auprc_trapezoid": metrics.auc(rc, pr),
        "average_precision": metrics.average_precision_score(y, s),
        # scikit-learn 1.2 makes the first ROC threshold max(score)+1; Go
        # uses +Inf (as scikit-learn >= 1.3), so it is left out here.
        "roc": {"fpr": fpr.tolist(), "tpr": tpr.tolist(), "thresholds_after_first": rt[1:].tolist()},
        "pr": {"precision": pr.tolist(), "recall": rc.tolist(), "thresholds": pt.tolist()},
        "threshold_metrics": tm,
        "best_f1": best_fbeta(pr, rc, pt, 1.0),
        "best_f2": best_fbeta(pr, rc, pt, 2.0),
    }


def delong_reference(y, a, b):
    """Sun & Xu's fast DeLong for two models, written from the paper."""
    y = np.asarray(y, dtype=bool)
    X = np.vstack([a, b])  # k x N
    m, n = int(y.sum()), int((~y).sum())
    aucs, v10, v01 = [], [], []
    for r in range(2):
        x, yv = X[r, y], X[r, ~y]
        tz = scipy.stats.rankdata(np.concatenate([x, yv]))  # midranks
        tx = scipy.stats.rankdata(x)
        ty = scipy.stats.rankdata(yv)
        aucs.append((tz[:m].sum() - m * (m + 1) / 2) / (m * n))
        v10.append((tz[:m] - tx) / n)
        v01.append(1 - (tz[m:] - ty) / m)
    S = np.cov(np.array(v10)) / m + np.cov(np.array(v01)) / n
    var = S[0, 0] + S[1, 1] - 2 * S[0, 1]
    z = (aucs[0] - aucs[1]) / np.sqrt(var)
    p = 2 * scipy.stats.norm.sf(abs(z))
    # the two AUROCs must agree with scikit-learn
    assert abs(aucs[0] - metrics.roc_auc_score(y, a)) < 1e-12
    assert abs(aucs[1] - metrics.roc_auc_score(y, b)) < 1e-12
    return {
        "auroc_a": aucs[0], "auroc_b": aucs[1],
        "var_a": S[0, 0], "var_b": S[1, 1], "cov": S[0, 1],
        "var": var, "z": z, "p": p,
    }


def delong_cases():
    rng = np.random.default_rng(7)
    out = []

    def add(name, y, a, b):
        y = np.asarray(y, dtype=int)
        a = np.asarray(a, dtype=float)
        b = np.asarray(b, dtype=float)
        d = {"name": name, "labels": y.tolist(), "a": a.tolist(), "b": b.tolist()}
        d.update({k: float(v) for k, v in delong_reference(y, a, b).items()})
        out.append(d)

    y = rng.random(300) < 0.4
    common = rng.normal(size=300)
    add("correlated", y, sigmoid(1.2 * y + common + 0.5 * rng.normal(size=300)),
        sigmoid(0.8 * y + common + 0.5 * rng.normal(size=300)))
    y = rng.random(400) < 0.3
    add("ties", y, np.round(sigmoid(y + rng.normal(size=400)), 1),
        np.round(sigmoid(0.7 * y + rng.normal(size=400)), 1))
    y = np.zeros(1063, dtype=bool)
    y[rng.choice(1063, 246, replace=False)] = True
    common = rng.normal(size=1063)
    add("study_like", y, sigmoid(1.8 * y + common + rng.normal(size=1063)),
        sigmoid(1.0 * y + common + rng.normal(size=1063)))
    add("small", [0, 0, 1, 1, 0, 1, 1, 0], [0.1, 0.4, 0.35, 0.8, 0.3, 0.9, 0.2, 0.5],
        [0.2, 0.1, 0.5, 0.6, 0.4, 0.7, 0.3, 0.3])
    return out


def main():
    golden = {
        "generator": "make_golden.py, scikit-learn %s, numpy %s, scipy %s"
        % (sklearn.__version__, np.__version__, scipy.__version__),
        "curves": [curve_case(*d) for d in datasets()],
        "delong": delong_cases(),
    }
    with open("golden.json", "w") as f:
        json.dump(golden, f, indent=1, allow_nan=False)
        f.write("\n")


if __name__ == "__main__":
    main()
