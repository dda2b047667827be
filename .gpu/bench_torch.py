"""R3D-18 training-step benchmark in PyTorch eager mode, the reference for
package gpu's TestCUDATrainBenchmark (same model, loss, optimiser, batch
shape and host-to-device copy per step).

Prints one line: BENCH torch device="..." batch=N clips_per_s=... step_ms=...
Usage: bench_torch.py --batch 88 [--steps 10] [--tf32 1]
"""

import argparse
import sys
import time

import torch
import torch.nn as nn


def r3d_18():
    """torchvision.models.video.r3d_18(num_classes=1), or the same network
    defined here when torchvision is not installed."""
    try:
        from torchvision.models.video import r3d_18 as tv

        return tv(num_classes=1)
    except Exception:
        pass

    def conv_bn(cin, cout, k, s, p):
        return nn.Sequential(
            nn.Conv3d(cin, cout, k, stride=s, padding=p, bias=False),
            nn.BatchNorm3d(cout),
        )

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Sequential(
                nn.Conv3d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm3d(cout), nn.ReLU(inplace=True)
            )
            self.conv2 = conv_bn(cout, cout, 3, 1, 1)
            self.relu = nn.ReLU(inplace=True)
            self.downsample = conv_bn(cin, cout, 1, stride, 0) if stride != 1 or cin != cout else None

        def forward(self, x):
            out = self.conv2(self.conv1(x))
            return self.relu(out + (x if self.downsample is None else self.downsample(x)))

    class R3D(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(
                nn.Conv3d(3, 64, (3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False),
                nn.BatchNorm3d(64),
                nn.ReLU(inplace=True),
            )
            layers, cin = [], 64
            for i, cout in enumerate([64, 128, 256, 512]):
                s = 1 if i == 0 else 2
                layers.append(nn.Sequential(Block(cin, cout, s), Block(cout, cout, 1)))
                cin = cout
            self.layer1, self.layer2, self.layer3, self.layer4 = layers
            self.avgpool = nn.AdaptiveAvgPool3d(1)
            self.fc = nn.Linear(512, 1)

        def forward(self, x):
            x = self.stem(x)
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    return R3D()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=88)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--tf32", type=int, default=1)
    a = ap.parse_args()
    if not torch.cuda.is_available():
        print("torch has no CUDA device", file=sys.stderr)
        return 2
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = bool(a.tf32)
    torch.backends.cuda.matmul.allow_tf32 = False
    dev = torch.device("cuda")
    model = r3d_18().to(dev).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    lossf = nn.BCEWithLogitsLoss(pos_weight=torch.tensor([1.5], device=dev))
    x = torch.randn(a.batch, 3, 16, 112, 112)
    y = (torch.arange(a.batch) % 2).float()

    def step():
        xb, yb = x.to(dev), y.to(dev)
        opt.zero_grad(set_to_none=True)
        loss = lossf(model(xb).squeeze(1), yb)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(3):
        step()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        loss = step()
    torch.cuda.synchronize()
    el = time.perf_counter() - t0
    name = torch.cuda.get_device_name(0)
    print(
        f'BENCH torch device="{name}" batch={a.batch} clips_per_s={a.batch * a.steps / el:.2f} '
        f"step_ms={1000 * el / a.steps:.1f} loss={loss:.4f} torch={torch.__version__} cudnn={torch.backends.cudnn.version()}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
