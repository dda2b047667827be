"""Writes the Conv3d golden files of vidssl's nn tests.

Run with Debian's interpreter (python3-torch), from anywhere:
    /usr/bin/python3 nn/testdata/conv/make_golden.py

Each case file holds the input x, weight w, bias b (when the case has one), the
stride and padding, a fixed weighting R of the output, the output y of
torch.nn.functional.conv3d and the gradients dx, dw, db of sum(y * R). Inputs
are multiples of 1/16 (exact in float32) and the computation runs in float64,
so the goldens are exact up to the 8 significant digits they are rounded to.
"""
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "../../../internal/golden"))
import golden  # noqa: E402

# name: (x shape, w shape, stride, padding, bias)
CASES = {
    "odd_bias": ((2, 2, 3, 5, 4), (3, 2, 3, 3, 3), (1, 1, 1), (1, 1, 1), True),
    "stride2_pad": ((2, 2, 5, 7, 6), (3, 2, 3, 3, 3), (2, 2, 2), (1, 1, 1), False),
    "pointwise_bias": ((2, 4, 2, 3, 5), (5, 4, 1, 1, 1), (1, 1, 1), (0, 0, 0), True),
    "pointwise_stride2": ((2, 4, 3, 5, 6), (3, 4, 1, 1, 1), (2, 2, 2), (0, 0, 0), False),
    "stem": ((1, 3, 3, 9, 11), (2, 3, 3, 7, 7), (1, 2, 2), (1, 3, 3), False),
    "stem_bias": ((2, 3, 2, 8, 7), (2, 3, 3, 7, 7), (1, 2, 2), (1, 3, 3), True),
    "anisotropic": ((2, 2, 5, 6, 7), (3, 2, 2, 3, 1), (1, 2, 3), (0, 1, 0), True),
}


def quantized(gen, *shape):
    return torch.round(torch.randn(*shape, generator=gen, dtype=torch.float64) * 16) / 16


def rounded(t):
    t = t.detach().double().contiguous()
    vals = [float("%.8g" % v) for v in t.reshape(-1).tolist()]
    return torch.tensor(vals, dtype=torch.float64).reshape(t.shape)


def main():
    gen = torch.Generator().manual_seed(20240611)
    for name, (xs, ws, stride, padding, bias) in CASES.items():
        x = quantized(gen, *xs).requires_grad_()
        w = (quantized(gen, *ws) / 4).requires_grad_()
        b = quantized(gen, ws[0]).requires_grad_() if bias else None
        y = torch.nn.functional.conv3d(x, w, b, stride=stride, padding=padding)
        r = quantized(gen, *y.shape)
        (y * r).sum().backward()
        out = {
            "x": x, "w": w,
            "stride": torch.tensor(stride, dtype=torch.float64),
            "padding": torch.tensor(padding, dtype=torch.float64),
            "R": r, "y": rounded(y), "dx": rounded(x.grad), "dw": rounded(w.grad),
        }
        if bias:
            out["b"] = b
            out["db"] = rounded(b.grad)
        golden.save(os.path.join(HERE, name + ".json"), out)


if __name__ == "__main__":
    main()
