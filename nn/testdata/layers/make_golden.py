"""Writes the golden files for nn's layer and loss tests (batchnorm.json,
linear.json, bce.json, crossentropy.json in this folder).

Run from anywhere with Debian's PyTorch:  /usr/bin/python3 make_golden.py

Inputs are drawn in float32 (so Go sees exactly the same values) and every
result is computed in float64, so the goldens are the exact answers for the
float32 inputs.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "../../../internal/golden"))
import golden  # noqa: E402

import torch  # noqa: E402


def f32(t):
    """Rounds to float32, returned as float64 for exact computation."""
    return t.float().double()


def batchnorm(gen):
    n, c, t, h, w = 2, 3, 3, 5, 3  # odd sizes, batch > 1
    shape = (n, c, t, h, w)
    bn = torch.nn.BatchNorm3d(c).double()
    with torch.no_grad():
        bn.weight.copy_(f32(torch.randn(c, generator=gen) * 0.5 + 1))
        bn.bias.copy_(f32(torch.randn(c, generator=gen) * 0.5))
        bn.running_mean.copy_(f32(torch.randn(c, generator=gen) * 0.3))
        bn.running_var.copy_(f32(torch.rand(c, generator=gen) + 0.5))
    out = {
        "weight": bn.weight.detach().clone(),
        "bias": bn.bias.detach().clone(),
        "running_mean0": bn.running_mean.clone(),
        "running_var0": bn.running_var.clone(),
    }

    def step(tag, train):
        bn.train(train)
        scale = f32(torch.rand(1, c, 1, 1, 1, generator=gen) * 2 + 0.5)
        x = f32(torch.randn(*shape, generator=gen)) * scale + 0.7
        x = f32(x).requires_grad_(True)
        dy = f32(torch.randn(*shape, generator=gen))
        bn.zero_grad()
        y = bn(x)
        (y * dy).sum().backward()
        out.update({
            "x" + tag: x.detach(), "dy" + tag: dy, "y" + tag: y.detach(),
            "dx" + tag: x.grad, "dweight" + tag: bn.weight.grad.clone(),
            "dbias" + tag: bn.bias.grad.clone(),
            "running_mean" + tag: bn.running_mean.clone(),
            "running_var" + tag: bn.running_var.clone(),
            "num_batches_tracked" + tag: bn.num_batches_tracked.double().reshape(1),
        })

    step("1", True)
    step("2", True)
    step("_eval", False)
    return out


def linear(gen):
    n, fin, fout = 3, 7, 5
    x = f32(torch.randn(n, fin, generator=gen)).requires_grad_(True)
    w = f32(torch.randn(fout, fin, generator=gen) * 0.4).requires_grad_(True)
    b = f32(torch.randn(fout, generator=gen)).requires_grad_(True)
    dy = f32(torch.randn(n, fout, generator=gen))
    y = torch.nn.functional.linear(x, w, b)
    (y * dy).sum().backward()
    return {"x": x.detach(), "weight": w.detach(), "bias": b.detach(), "dy": dy,
            "y": y.detach(), "dx": x.grad, "dweight": w.grad, "dbias": b.grad}


def bce(gen):
    out = {}
    cases = {
        # large |logits| on both sides, soft and hard targets, pos_weight 2.5
        "a": (torch.tensor([-100.0, -30.0, -5.0, -0.3, 0.0, 0.7, 4.0, 30.0, 100.0, 12.0]),
              torch.tensor([1.0, 0.0, 1.0, 0.25, 1.0, 0.0, 1.0, 1.0, 0.0, 0.5]), 2.5),
        # N x 1 logits, no pos_weight
        "b": (torch.randn(6, 1, generator=gen) * 3,
              (torch.rand(6, 1, generator=gen) > 0.5).double(), 1.0),
        # N x 1 logits, pos_weight < 1
        "c": (torch.randn(7, 1, generator=gen) * 2,
              (torch.rand(7, 1, generator=gen) > 0.3).double(), 0.4),
    }
    for tag, (x, t, pw) in cases.items():
        x = f32(x).requires_grad_(True)
        t = f32(t)
        loss = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pw, dtype=torch.float64))(x, t)
        loss.backward()
        out.update({"logits_" + tag: x.detach(), "targets_" + tag: t,
                    "pos_weight_" + tag: torch.tensor([pw]), "loss_" + tag: loss.detach().reshape(1),
                    "grad_" + tag: x.grad})
    return out


def cross_entropy(gen):
    out = {}
    x = f32(torch.randn(6, 5, generator=gen) * 2)
    x[1, 2] = 80.0
    x[3, 0] = -60.0
    x[4] = torch.tensor([50.0, 49.0, -50.0, 0.0, 50.0])
    labels_a = torch.tensor([0, 2, 4, 1, 3, 2])
    x24 = f32(torch.randn(4, 24, generator=gen))
    labels_b = torch.tensor([23, 0, 7, 7])
    for tag, (x, y) in {"a": (x, labels_a), "b": (x24, labels_b)}.items():
        x = x.clone().requires_grad_(True)
        loss = torch.nn.CrossEntropyLoss()(x, y)
        loss.backward()
        out.update({"logits_" + tag: x.detach(), "labels_" + tag: y.double(),
                    "loss_" + tag: loss.detach().reshape(1), "grad_" + tag: x.grad})
    return out


def main():
    gen = torch.Generator().manual_seed(20240611)
    golden.save(os.path.join(HERE, "batchnorm.json"), batchnorm(gen))
    golden.save(os.path.join(HERE, "linear.json"), linear(gen))
    golden.save(os.path.join(HERE, "bce.json"), bce(gen))
    golden.save(os.path.join(HERE, "crossentropy.json"), cross_entropy(gen))


if __name__ == "__main__":
    main()
