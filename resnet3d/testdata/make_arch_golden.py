"""Golden values for resnet3d's torchvision table: R3D, MC3, R(2+1)D and a
Bottleneck VideoResNet, from torchvision's own modules.

Run with Debian's PyTorch (/usr/bin/python3):

    make_arch_golden.py            writes here, for each architecture A in
                                   r3d18, mc3_18, r2plus1d18 (18 layers, width 8)
                                   and bottleneck (one Bottleneck per stage,
                                   width 4): A_small.pth (torch.save of the
                                   state dict) and A_small.json; and
                                   arch_names.json, the state_dict names and
                                   shapes of torchvision's full r3d_18, mc3_18
                                   and r2plus1d_18.
    make_arch_golden.py --full DIR writes DIR/A.pth and DIR/A.json for the full
                                   mc3_18 and r2plus1d_18 with 10 classes (47 and
                                   126 MB, not committed; make_golden.py --full
                                   makes r3d_18's).

The reduced widths are torchvision's VideoResNet with its _make_layer, blocks
and conv makers; only the stem is rebuilt with the width (R2Plus1dStem's 45
middle channels become width*45//64, as resnet3d does). Each JSON holds:
x_eval (1,3,4,32,32) and its eval-mode logits; x_train (2,3,8,32,32) (both
in [-0.5, 0.5)), the BCEWithLogits targets and the training-mode loss; and
the float64 training-mode gradients of the stem's first convolution,
fc.weight and every parameter of at most 8192 values (every batch norm of the
network and the smaller convolutions). For each gradient that PyTorch's
float32 result misses by more than 5e-4 (relative to the largest value) a
"gradtol." entry holds twice PyTorch's error, the tolerance the test then
allows (the script names them). The full models' goldens leave out the
gradients of every parameter before the last ReLU whose input lies within
1e-5 of zero: float32 rounding can switch it, and PyTorch's own float32
gradients of r2plus1d_18 then miss its float64 ones by up to 3%.
"""
import copy
import json
import os
import sys

import torch
import torch.nn as nn
from torchvision.models.video import mc3_18, r2plus1d_18, r3d_18
from torchvision.models.video.resnet import (BasicBlock, Bottleneck, Conv2Plus1D, Conv3DNoTemporal,
                                             Conv3DSimple, VideoResNet)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../internal/golden"))
import golden  # noqa: E402


class NarrowVideoResNet(VideoResNet):
    """torchvision's VideoResNet with a width other than 64."""

    def __init__(self, block, conv_makers, layers, r2plus1d_stem, width, num_classes):
        nn.Module.__init__(self)
        self.inplanes = width
        if r2plus1d_stem:
            mid = max(1, width * 45 // 64)
            self.stem = nn.Sequential(
                nn.Conv3d(3, mid, kernel_size=(1, 7, 7), stride=(1, 2, 2), padding=(0, 3, 3), bias=False),
                nn.BatchNorm3d(mid),
                nn.ReLU(inplace=True),
                nn.Conv3d(mid, width, kernel_size=(3, 1, 1), stride=(1, 1, 1), padding=(1, 0, 0), bias=False),
                nn.BatchNorm3d(width),
                nn.ReLU(inplace=True),
            )
        else:
            self.stem = nn.Sequential(
                nn.Conv3d(3, width, kernel_size=(3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False),
                nn.BatchNorm3d(width),
                nn.ReLU(inplace=True),
            )
        for i in range(4):
            setattr(self, "layer%d" % (i + 1),
                    self._make_layer(block, conv_makers[i], width << i, layers[i], stride=1 if i == 0 else 2))
        self.avgpool = nn.AdaptiveAvgPool3d((1, 1, 1))
        self.fc = nn.Linear(width * 8 * block.expansion, num_classes)
        for m in self.modules():  # as VideoResNet.__init__
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.constant_(m.bias, 0)


SMALL = {
    "r3d18": lambda: NarrowVideoResNet(BasicBlock, [Conv3DSimple] * 4, [2, 2, 2, 2], False, 8, 3),
    "mc3_18": lambda: NarrowVideoResNet(BasicBlock, [Conv3DSimple] + [Conv3DNoTemporal] * 3, [2, 2, 2, 2], False, 8, 3),
    "r2plus1d18": lambda: NarrowVideoResNet(BasicBlock, [Conv2Plus1D] * 4, [2, 2, 2, 2], True, 8, 3),
    "bottleneck": lambda: NarrowVideoResNet(Bottleneck, [Conv3DSimple] * 4, [1, 1, 1, 1], False, 4, 3),
}
FULL = {"r3d18": r3d_18, "mc3_18": mc3_18, "r2plus1d18": r2plus1d_18}


def perturb(model, gen):
    """Makes batch norm non-trivial: random affine parameters and running statistics."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm3d):
                m.weight.copy_(0.5 + torch.rand(m.weight.shape, generator=gen))
                m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=gen))
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=gen))
            if isinstance(m, nn.Linear):
                m.weight.mul_(10)
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=gen))


def last_switch(model, x):
    """Runs model (float64) on x and returns the name of the last parameter
    computed before the last ReLU whose input lies within 1e-5 of zero
    (relative to its largest value), or None. float32 rounding can switch
    such a ReLU, which moves the gradient of every parameter before it."""
    last = [None]
    cut = [None]
    hooks = []
    for mname, mod in model.named_modules():
        own = [mname + "." + k if mname else k for k, _ in mod.named_parameters(recurse=False)]
        if own:
            hooks.append(mod.register_forward_hook(lambda m, i, o, own=own: last.__setitem__(0, own[-1])))
        if isinstance(mod, nn.ReLU):
            def pre(m, i):
                z = i[0].abs()
                if z.min() <= 1e-5 * max(1.0, z.max().item()):
                    cut[0] = last[0]
            hooks.append(mod.register_forward_pre_hook(pre))
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return cut[0]


def gradients(name, model, x, target, max_grad, cut):
    """Returns the training-mode loss BCEWithLogits(model(x), target) and the
    float64 gradients as "grad.<param>" (of the stem's first convolution,
    fc.weight and every parameter of at most max_grad values), and for each
    one that PyTorch's float32 result misses by more than 5e-4 (relative to
    the largest value) a "gradtol.<param>" entry holding twice PyTorch's
    error: deep training-mode gradients with a batch of two can be
    ill-conditioned, and the test then allows what float32 can reach instead
    of 1e-3. With cut, the gradients of the parameters before the last
    switchable ReLU (last_switch) are left out."""
    out = {}
    twin = copy.deepcopy(model).double()
    model.train()
    twin.train()
    model.zero_grad()
    loss = nn.BCEWithLogitsLoss()(model(x), target)
    loss.backward()
    nn.BCEWithLogitsLoss()(twin(x.double()), target.double()).backward()
    exact = dict(twin.named_parameters())
    loose = []
    before = None
    if cut:
        # Leave out the gradients that a switching ReLU can move.
        before = last_switch(copy.deepcopy(twin), x.double())
        print("%s: a ReLU input within 1e-5 of zero after %s; earlier gradients left out" % (name, before))
    for pname, p in model.named_parameters():
        if before is not None:
            if pname == before:
                before = None
            continue
        if pname in ("stem.0.weight", "fc.weight") or p.numel() <= max_grad:
            want = exact[pname].grad
            err = ((p.grad.double() - want).abs().max() / want.abs().max()).item()
            out["grad." + pname] = want
            if err > 5e-4:
                out["gradtol." + pname] = 2 * err
                loose.append("%s (%.1g)" % (pname, err))
    print("%s: %d gradients; PyTorch's float32 is further than 5e-4 from float64 for %d: %s" % (
        name, len([k for k in out if k.startswith("grad.")]), len(loose), " ".join(loose)))
    return loss.detach(), out


def goldens(name, model, gen, max_grad, full):
    out = {}
    # Short decimals, centred as normalised video is: with inputs in [0, 1)
    # the training-mode gradients of the full r2plus1d_18 are ill-conditioned
    # (PyTorch's float32 and float64 results differ by up to 10%).
    x_eval = torch.randint(0, 256, (1, 3, 4, 32, 32), generator=gen) / 256 - 0.5
    classes = model.fc.out_features
    model.eval()
    with torch.no_grad():
        out["logits_eval"] = model(x_eval)
    out["x_eval"] = x_eval
    x_train = torch.randint(0, 256, (2, 3, 8, 32, 32), generator=gen) / 256 - 0.5
    target = (torch.rand(2, classes, generator=gen) > 0.5).float()
    out["x_train"] = x_train
    out["target"] = target
    loss, grads = gradients(name, model, x_train, target, max_grad, full)
    out["loss_train"] = loss
    out.update(grads)
    return out


def main():
    gen = torch.Generator().manual_seed(14)
    if len(sys.argv) == 3 and sys.argv[1] == "--full":
        for i, name in enumerate(["mc3_18", "r2plus1d18"]):
            make = FULL[name]
            torch.manual_seed(i)
            model = make(num_classes=10)
            perturb(model, gen)
            torch.save(model.state_dict(), os.path.join(sys.argv[2], name + ".pth"))
            golden.save(os.path.join(sys.argv[2], name + ".json"), goldens(name, model, gen, 8192, True))
        return
    here = os.path.dirname(os.path.abspath(__file__))
    for i, (name, make) in enumerate(SMALL.items()):
        torch.manual_seed(i)
        model = make()
        perturb(model, gen)
        torch.save(model.state_dict(), os.path.join(here, name + "_small.pth"))
        golden.save(os.path.join(here, name + "_small.json"), goldens(name, model, gen, 8192, False))
    names = {}
    for name, make in FULL.items():
        names[name] = [[k, list(v.shape)] for k, v in make(num_classes=400).state_dict().items()]
    with open(os.path.join(here, "arch_names.json"), "w") as f:
        json.dump(names, f, separators=(",", ":"))


if __name__ == "__main__":
    main()
