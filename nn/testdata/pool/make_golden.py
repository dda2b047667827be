"""Writes the pooling golden files of vidssl's nn tests.

Run with Debian's interpreter (python3-torch), from anywhere:
    /usr/bin/python3 nn/testdata/pool/make_golden.py

Each case file holds the input x, the kind (0 max, 1 average, 2 global
average), kernel, stride and padding, a fixed weighting R of the output, the
output y and the gradient dx of sum(y * R). Inputs are multiples of 1/16
(whole numbers in the "ties" case, so that windows hold equal maxima) and the
computation runs in float64.
"""
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "../../../internal/golden"))
import golden  # noqa: E402

MAX, AVG, GLOBAL = 0, 1, 2

# name: (kind, x shape, kernel, stride, padding, integer inputs)
CASES = {
    "max_k3s2p1": (MAX, (2, 3, 5, 7, 6), (3, 3, 3), (2, 2, 2), (1, 1, 1), False),
    "max_k2": (MAX, (1, 2, 4, 6, 5), (2, 2, 2), (2, 2, 2), (0, 0, 0), False),
    "max_aniso": (MAX, (2, 2, 3, 7, 8), (1, 3, 2), (1, 2, 1), (0, 1, 1), False),
    "max_ties": (MAX, (2, 2, 4, 5, 6), (2, 3, 3), (1, 2, 2), (1, 1, 1), True),
    "avg_k3s2p1": (AVG, (2, 3, 5, 7, 6), (3, 3, 3), (2, 2, 2), (1, 1, 1), False),
    "avg_aniso": (AVG, (1, 2, 4, 7, 5), (2, 3, 3), (1, 2, 2), (1, 1, 0), False),
    "global": (GLOBAL, (2, 3, 3, 4, 5), (0, 0, 0), (0, 0, 0), (0, 0, 0), False),
}


def rounded(t):
    t = t.detach().double().contiguous()
    vals = [float("%.8g" % v) for v in t.reshape(-1).tolist()]
    return torch.tensor(vals, dtype=torch.float64).reshape(t.shape)


def main():
    gen = torch.Generator().manual_seed(20240612)
    for name, (kind, xs, k, s, p, ints) in CASES.items():
        x = torch.randn(*xs, generator=gen, dtype=torch.float64)
        x = torch.round(x) if ints else torch.round(x * 16) / 16
        x.requires_grad_()
        if kind == MAX:
            y = F.max_pool3d(x, k, s, p)
        elif kind == AVG:
            y = F.avg_pool3d(x, k, s, p)  # count_include_pad=True
        else:
            y = F.adaptive_avg_pool3d(x, 1)
        r = torch.round(torch.randn(*y.shape, generator=gen, dtype=torch.float64) * 16) / 16
        (y * r).sum().backward()
        golden.save(os.path.join(HERE, name + ".json"), {
            "x": x, "kind": torch.tensor([kind], dtype=torch.float64),
            "kernel": torch.tensor(k, dtype=torch.float64),
            "stride": torch.tensor(s, dtype=torch.float64),
            "padding": torch.tensor(p, dtype=torch.float64),
            "R": r, "y": rounded(y), "dx": rounded(x.grad),
        })


if __name__ == "__main__":
    main()
