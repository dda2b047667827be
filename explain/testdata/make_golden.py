#!/usr/bin/python3
"""Writes golden.json, the reference values for the explain package's tests.

Run with Debian's interpreter, which has python3-torch 1.13 and matplotlib:

    cd explain/testdata && /usr/bin/python3 make_golden.py

Grad-CAM here is written out in plain torch, step by step, as the Go code
does it:

    weights = grads.mean((2, 3, 4))                      # (N, C)
    cam     = relu((weights[:, :, None, None, None] * acts).sum(1))
    up      = F.interpolate(cam[:, None], size, mode="trilinear",
                            align_corners=False)[:, 0]
    norm    = per-item min-max of up (a constant item becomes zeros)
    heat    = norm.max(1).values                         # over time

Keys, for each synthetic case <c>:
    <c>.acts, <c>.grads  (N, C, t, h, w) inputs
    <c>.size             (3,) the output (T, H, W)
    <c>.cam              (N, t, h, w) before upsampling, not normalised
    <c>.heat             (N, H, W) the final map
    <c>.up, <c>.norm     (N, T, H, W), only for the small cases

"tiny" is a full torch pipeline on a small Conv3d/BatchNorm3d/ReLU net in
eval mode with random weights and running statistics: forward hooks on its
last conv block catch the activations, a tensor hook their gradient, and
the sum over the batch of each item's target logit is backpropagated.
tiny.net.* are its state_dict, tiny.x its input, tiny.target the classes.

cmap.<name> (256, 3) are matplotlib's colour maps at i/255, i = 0..255.
"""

import os
import sys

import matplotlib
import matplotlib.cm
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../internal/golden"))
import golden  # noqa: E402

assert torch.__version__.startswith("1.13"), torch.__version__


def normalise(x):
    """Per-item min-max over all but the first dimension; constant items -> 0."""
    flat = x.reshape(x.shape[0], -1)
    lo = flat.min(1, keepdim=True).values
    hi = flat.max(1, keepdim=True).values
    rng = hi - lo
    out = torch.where(rng > 0, (flat - lo) / torch.where(rng > 0, rng, torch.ones_like(rng)),
                      torch.zeros_like(flat))
    return out.reshape(x.shape)


def gradcam(acts, grads, size):
    weights = grads.mean((2, 3, 4))
    cam = F.relu((weights[:, :, None, None, None] * acts).sum(1))
    up = F.interpolate(cam[:, None], size=size, mode="trilinear", align_corners=False)[:, 0]
    norm = normalise(up)
    heat = norm.max(1).values
    return cam, up, norm, heat


def synthetic(out, gen, name, shape, size, full):
    acts = torch.randn(shape, generator=gen)
    grads = torch.randn(shape, generator=gen)
    cam, up, norm, heat = gradcam(acts, grads, size)
    out[name + ".acts"] = acts
    out[name + ".grads"] = grads
    out[name + ".size"] = torch.tensor(size, dtype=torch.float64)
    out[name + ".cam"] = cam
    out[name + ".heat"] = heat
    if full:
        out[name + ".up"] = up
        out[name + ".norm"] = norm


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv3d(3, 4, 3, stride=(1, 2, 2), padding=1, bias=False),
            nn.BatchNorm3d(4), nn.ReLU())
        self.block = nn.Sequential(
            nn.Conv3d(4, 6, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm3d(6), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.fc = nn.Linear(6, 3)

    def forward(self, x):
        return self.fc(self.pool(self.block(self.stem(x))).flatten(1))


def tiny(out, gen):
    net = Tiny()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm3d):
                m.weight.copy_(1 + 0.3 * torch.randn(m.weight.shape, generator=gen))
                m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=gen))
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=gen))
            elif isinstance(m, (nn.Conv3d, nn.Linear)):
                m.weight.copy_(0.3 * torch.randn(m.weight.shape, generator=gen))
                if m.bias is not None:
                    m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=gen))
    net.eval()

    caught = {}

    def forward_hook(module, inputs, output):
        caught["acts"] = output.detach()
        output.register_hook(lambda g: caught.__setitem__("grads", g.detach()))

    net.block.register_forward_hook(forward_hook)
    x = torch.randn((2, 3, 4, 12, 12), generator=gen)
    target = torch.tensor([2, 0])
    logits = net(x)
    logits[torch.arange(2), target].sum().backward()

    size = tuple(x.shape[2:])
    cam, up, norm, heat = gradcam(caught["acts"], caught["grads"], size)
    for k, v in net.state_dict().items():
        if k.endswith("num_batches_tracked"):
            continue
        out["tiny.net." + k] = v
    out["tiny.x"] = x
    out["tiny.target"] = target.double()
    out["tiny.logits"] = logits.detach()
    out["tiny.acts"] = caught["acts"]
    out["tiny.grads"] = caught["grads"]
    out["tiny.size"] = torch.tensor(size, dtype=torch.float64)
    out["tiny.cam"] = cam
    out["tiny.up"] = up
    out["tiny.norm"] = norm
    out["tiny.heat"] = heat


def main():
    gen = torch.Generator().manual_seed(20240611)
    out = {}
    synthetic(out, gen, "a", (2, 8, 2, 4, 4), (8, 32, 32), False)
    synthetic(out, gen, "b", (1, 5, 3, 7, 5), (16, 28, 20), False)
    synthetic(out, gen, "c", (1, 4, 5, 6, 3), (3, 4, 9), True)   # shrink t, h; grow w
    synthetic(out, gen, "d", (2, 3, 3, 3, 3), (5, 7, 2), True)
    synthetic(out, gen, "e", (1, 2, 1, 1, 1), (4, 4, 4), True)   # constant map -> zeros
    tiny(out, gen)
    t = np.arange(256) / 255
    for name in ("jet", "inferno", "viridis"):
        out["cmap." + name] = torch.from_numpy(matplotlib.cm.get_cmap(name)(t)[:, :3].copy())
    golden.save(os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden.json"), out)


if __name__ == "__main__":
    main()
