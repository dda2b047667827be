"""Writes order.json, the golden file for pretext's tests.

Run with Debian's PyTorch:  /usr/bin/python3 pretext/testdata/make_golden.py

Holds: the permutation table of itertools.permutations(range(4)) (the public
code's class list), a shuffled toy clip x[perm] for a few classes, and the
frame-order head Linear(F, 24) with cross-entropy: loss and gradients with
respect to the features, weight and bias. Inputs are float32, computed in
float64.
"""
import itertools
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "../../internal/golden"))
import golden  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402


def f32(t):
    return t.float().double()


def main():
    gen = torch.Generator().manual_seed(7)
    out = {}
    perms = list(itertools.permutations(np.arange(4)))
    out["perms4"] = torch.tensor(np.array(perms), dtype=torch.float64)
    out["perms3"] = torch.tensor(np.array(list(itertools.permutations(range(3)))), dtype=torch.float64)

    # A clip of 4 frames of 2x3 pixels, 1 channel (T, H, W, C), shuffled as
    # the public code does: x = x[reordering].
    clip = np.arange(4 * 2 * 3).reshape(4, 2, 3, 1).astype(np.uint8) * 5
    out["clip"] = torch.tensor(clip, dtype=torch.float64)
    labels = [0, 1, 7, 13, 23]
    out["shuffle_labels"] = torch.tensor(labels, dtype=torch.float64)
    for c in labels:
        out["shuffled_%d" % c] = torch.tensor(clip[list(perms[c])], dtype=torch.float64)

    # Head + cross-entropy, two views stacked, as the public code's
    # CrossEntropyLoss()(cat([t_i, t_j]), cat([y_i, y_j])).
    for tag, (n, feat) in {"a": (3, 8), "b": (6, 5)}.items():
        h1 = f32(torch.randn(n, feat, generator=gen)).requires_grad_(True)
        h2 = f32(torch.randn(n, feat, generator=gen)).requires_grad_(True)
        w = f32(torch.randn(24, feat, generator=gen) * 0.5).requires_grad_(True)
        b = f32(torch.randn(24, generator=gen) * 0.1).requires_grad_(True)
        y1 = torch.randint(0, 24, (n,), generator=gen)
        y2 = torch.randint(0, 24, (n,), generator=gen)
        t1 = torch.nn.functional.linear(h1, w, b)
        t2 = torch.nn.functional.linear(h2, w, b)
        loss = torch.nn.CrossEntropyLoss()(torch.cat([t1, t2]), torch.cat([y1, y2]))
        loss.backward()
        out.update({
            tag + ".h1": h1.detach(), tag + ".h2": h2.detach(), tag + ".weight": w.detach(),
            tag + ".bias": b.detach(), tag + ".y1": y1.double(), tag + ".y2": y2.double(),
            tag + ".loss": loss.detach().reshape(1), tag + ".dh1": h1.grad, tag + ".dh2": h2.grad,
            tag + ".dweight": w.grad, tag + ".dbias": b.grad,
        })
    golden.save(os.path.join(HERE, "order.json"), out)


if __name__ == "__main__":
    main()
