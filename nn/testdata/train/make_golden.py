"""Golden losses of a small 3-D CNN trained with Adam on a toy task.

Run with Debian's PyTorch: /usr/bin/python3 nn/testdata/train/make_golden.py
Writes nn/testdata/train/toy.json: the initial weights, the data, and the
training-mode losses of the first steps (and of a longer run).
"""
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../../../internal/golden"))
import golden  # noqa: E402

torch.manual_seed(0)
N, C, T, H, W = 8, 1, 4, 8, 8


def toy_batch():
    # Class 1: a bright 2x2 blob moving right over time; class 0: a static blob.
    x = 0.1 * torch.randn(N, C, T, H, W)
    y = torch.tensor([i % 2 for i in range(N)], dtype=torch.float32)
    for i in range(N):
        r, c0 = 1 + (i * 3) % 5, (i * 5) % 3
        for t in range(T):
            c = c0 + (t if y[i] == 1 else 0)
            x[i, 0, t, r:r + 2, c:c + 2] += 1.0
    return x, y


model = torch.nn.Sequential(
    torch.nn.Conv3d(1, 4, kernel_size=3, padding=1, bias=False),
    torch.nn.BatchNorm3d(4),
    torch.nn.ReLU(),
    torch.nn.AdaptiveAvgPool3d(1),
    torch.nn.Flatten(),
    torch.nn.Linear(4, 1),
)
init = {k: v.clone() for k, v in model.state_dict().items() if "num_batches" not in k}
x, y = toy_batch()
opt = torch.optim.Adam(model.parameters(), lr=0.05)
loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(1.5))
losses = []
for step in range(60):
    opt.zero_grad()
    loss = loss_fn(model(x).squeeze(1), y)
    loss.backward()
    opt.step()
    losses.append(loss.item())

out = {"param." + k: v for k, v in init.items()}
out["x"] = x
out["y"] = y
out["losses"] = torch.tensor(losses, dtype=torch.float64)
golden.save(os.path.join(os.path.dirname(__file__), "toy.json"), out)
print("first losses", losses[:5], "last", losses[-1])
