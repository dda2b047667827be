"""Self-supervised (MI-SimCLR+FO) training-step benchmark in PyTorch eager
mode, the reference for package pretrain's TestCUDASSLBenchmark: R3D-18 without fc
on two views of 4 x 112 x 112 clips, projection head 512-256-128 (no biases),
frame-order head Linear(512, 24), NT-Xent (tau 0.05) + the mean of the two
views' order cross-entropies, Adam; both views copied from host memory
every step.

Prints one line: BENCH torch-ssl device="..." pairs=N pairs_per_s=... step_ms=...
Usage: bench_ssl_torch.py --pairs 392 [--steps 10] [--tf32 1]
"""

import argparse
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from bench_torch import r3d_18


def nt_xent(z1, z2, tau):
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    sim = z @ z.t() / tau
    sim.fill_diagonal_(float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(sim, target, reduction="sum") / (2 * n)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=392)
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
    enc = r3d_18()
    enc.fc = nn.Identity()
    proj = nn.Sequential(nn.Linear(512, 256, bias=False), nn.ReLU(), nn.Linear(256, 128, bias=False))
    order = nn.Linear(512, 24)
    model = nn.ModuleList([enc, proj, order]).to(dev).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    x1 = torch.randn(a.pairs, 3, 4, 112, 112)
    x2 = torch.randn(a.pairs, 3, 4, 112, 112)
    y1 = torch.arange(a.pairs) % 24
    y2 = (torch.arange(a.pairs) + 7) % 24

    def step():
        b1, b2 = x1.to(dev), x2.to(dev)
        l1, l2 = y1.to(dev), y2.to(dev)
        opt.zero_grad(set_to_none=True)
        h1, h2 = enc(b1), enc(b2)
        loss = nt_xent(proj(h1), proj(h2), 0.05)
        loss = loss + (F.cross_entropy(order(h1), l1) + F.cross_entropy(order(h2), l2)) / 2
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
        f'BENCH torch-ssl device="{name}" pairs={a.pairs} pairs_per_s={a.pairs * a.steps / el:.2f} '
        f"step_ms={1000 * el / a.steps:.1f} loss={loss:.4f} torch={torch.__version__}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
