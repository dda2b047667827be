"""Golden values for resnet3d, from torchvision's video ResNet code.

Run with Debian's PyTorch (/usr/bin/python3):

    make_golden.py            writes small.pth and small.json here: a
                              torchvision VideoResNet built with width 4 and one
                              block per stage (same module names as r3d_18).
    make_golden.py --full DIR writes DIR/r3d18.pth (torchvision r3d_18, seed 0,
                              133 MB, not committed) and DIR/r3d18.json.

Each JSON holds: x_eval (1,3,4,32,32) and its eval-mode logits; x_train
(2,3,4,32,32), the BCEWithLogits targets, the training-mode loss and the
gradients of stem.0.weight, the last block's conv2 weight and fc.weight.
"""
import os
import sys

import torch
import torch.nn as nn
from torchvision.models.video import r3d_18
from torchvision.models.video.resnet import BasicBlock, Conv3DSimple, VideoResNet

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../internal/golden"))
import golden  # noqa: E402


class SmallVideoResNet(VideoResNet):
    """torchvision's VideoResNet with a configurable width and block counts."""

    def __init__(self, width, layers, num_classes):
        nn.Module.__init__(self)
        self.inplanes = width
        self.stem = nn.Sequential(
            nn.Conv3d(3, width, kernel_size=(3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False),
            nn.BatchNorm3d(width),
            nn.ReLU(inplace=True),
        )
        self.layer1 = self._make_layer(BasicBlock, Conv3DSimple, width, layers[0], stride=1)
        self.layer2 = self._make_layer(BasicBlock, Conv3DSimple, width * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(BasicBlock, Conv3DSimple, width * 4, layers[2], stride=2)
        self.layer4 = self._make_layer(BasicBlock, Conv3DSimple, width * 8, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool3d((1, 1, 1))
        self.fc = nn.Linear(width * 8, num_classes)
        for m in self.modules():  # as VideoResNet.__init__
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.constant_(m.bias, 0)


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


def goldens(model, last_conv, gen):
    out = {}
    x_eval = torch.randint(0, 256, (1, 3, 4, 32, 32), generator=gen) / 256  # short decimals
    model.eval()
    with torch.no_grad():
        out["logits_eval"] = model(x_eval)
    out["x_eval"] = x_eval
    x_train = torch.randint(0, 256, (2, 3, 4, 32, 32), generator=gen) / 256
    classes = model.fc.out_features
    target = (torch.rand(2, classes, generator=gen) > 0.5).float()
    model.train()
    model.zero_grad()
    loss = nn.BCEWithLogitsLoss()(model(x_train), target)
    loss.backward()
    out["x_train"] = x_train
    out["target"] = target
    out["loss_train"] = loss.detach()
    params = dict(model.named_parameters())
    for name in ["stem.0.weight", last_conv, "fc.weight"]:
        out["grad." + name] = params[name].grad
    return out


def main():
    gen = torch.Generator().manual_seed(1)
    if len(sys.argv) == 3 and sys.argv[1] == "--full":
        torch.manual_seed(0)
        model = r3d_18()
        perturb(model, gen)
        torch.save(model.state_dict(), os.path.join(sys.argv[2], "r3d18.pth"))
        golden.save(os.path.join(sys.argv[2], "r3d18.json"), goldens(model, "layer4.1.conv2.0.weight", gen))
        return
    here = os.path.dirname(os.path.abspath(__file__))
    torch.manual_seed(0)
    model = SmallVideoResNet(4, [1, 1, 1, 1], 3)
    perturb(model, gen)
    torch.save(model.state_dict(), os.path.join(here, "small.pth"))
    golden.save(os.path.join(here, "small.json"), goldens(model, "layer4.0.conv2.0.weight", gen))


if __name__ == "__main__":
    main()
