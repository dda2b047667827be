"""Grad-CAM of torchvision's VideoResNet on the committed small weights.

Run with Debian's PyTorch: /usr/bin/python3 explain/testdata/make_model_golden.py
Loads resnet3d/testdata/small.pth into the same SmallVideoResNet that
resnet3d/testdata/make_golden.py defines, runs it in eval mode on a fixed clip
batch, hooks layer4, backpropagates the sum of the class-1 logits, and writes
explain/testdata/model.json: the clips, the logits, the normalised Grad-CAM
volumes (N, T, H, W) and their temporal maxima. Then the same for the R(2+1)D
of resnet3d/testdata/r2plus1d18_small.pth (make_arch_golden.py's width-8
r2plus1d18) at layer3, into explain/testdata/model_r2plus1d.json.
"""
import os
import sys

import torch
import torch.nn.functional as F

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "../../resnet3d/testdata"))
sys.path.insert(0, os.path.join(here, "../../internal/golden"))
import golden  # noqa: E402
from make_golden import SmallVideoResNet  # noqa: E402

from make_arch_golden import SMALL  # noqa: E402


def short(t):
    return torch.round(t * 1e6) / 1e6  # 6 decimals keep the file small; far below the 1e-4 tolerance


def gradcam(model, layer, x, out):
    model.eval()
    saved = {}
    layer.register_forward_hook(lambda m, i, o: saved.__setitem__("acts", o))
    layer.register_full_backward_hook(lambda m, gi, go: saved.__setitem__("grads", go[0]))
    logits = model(x)
    logits[:, 1].sum().backward()
    acts, grads = saved["acts"].detach(), saved["grads"].detach()
    weights = grads.mean(dim=(2, 3, 4), keepdim=True)
    cam = F.relu((weights * acts).sum(dim=1, keepdim=True))
    up = F.interpolate(cam, size=x.shape[2:], mode="trilinear", align_corners=False)[:, 0]
    flat = up.reshape(up.shape[0], -1)
    lo, hi = flat.min(1, keepdim=True)[0], flat.max(1, keepdim=True)[0]
    vol = ((flat - lo) / (hi - lo)).reshape(up.shape)
    vol = vol.double()
    golden.save(out, {
        "x": x, "logits": logits.detach(), "volumes": short(vol), "heatmaps": short(vol.max(dim=1)[0]),
    })


model = SmallVideoResNet(4, [1, 1, 1, 1], 3)
model.load_state_dict(torch.load(os.path.join(here, "../../resnet3d/testdata/small.pth")))
gen = torch.Generator().manual_seed(5)
x = torch.randint(0, 256, (2, 3, 4, 32, 32), generator=gen) / 256
gradcam(model, model.layer4, x, os.path.join(here, "model.json"))

model = SMALL["r2plus1d18"]()
model.load_state_dict(torch.load(os.path.join(here, "../../resnet3d/testdata/r2plus1d18_small.pth")))
x = torch.randint(0, 256, (2, 3, 8, 32, 32), generator=gen) / 256 - 0.5
gradcam(model, model.layer3, x, os.path.join(here, "model_r2plus1d.json"))
