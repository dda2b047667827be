"""Writes augment_golden.txt: the paper's spatial augmentation done by torchvision.

Run with Debian's /usr/bin/python3 (python3-torch, python3-torchvision):
    /usr/bin/python3 gen_augment.py > augment_golden.txt

Input frame: H x W grey, pixel (y, x) = (37*x + 101*y + 7*x*y) % 251 + 1 (never 0).
Each case: zero-pad 8, crop at (8+shift_y, 8+shift_x), optional horizontal flip,
rotate by angle degrees (nearest, zero fill, same size). Output format, per case:
    case <shift_y> <shift_x> <flip> <angle>
    <H*W bytes as hex>
"""
import torch
import torchvision.transforms.functional as TF
from torchvision.transforms import InterpolationMode

H, W = 24, 31
PAD = 8
img = torch.tensor([[(37 * x + 101 * y + 7 * x * y) % 251 + 1 for x in range(W)] for y in range(H)],
                   dtype=torch.uint8).unsqueeze(0)

cases = [(0, 0, 0, a) for a in range(-10, 11)]
cases += [(-8, 8, 0, 0), (8, -8, 1, 0), (3, -5, 1, 7), (-8, -8, 1, -10), (8, 8, 0, 10), (0, 0, 1, 0), (-2, 6, 0, -4)]

print(f"size {H} {W}")
for sy, sx, flip, angle in cases:
    x = TF.pad(img, [PAD, PAD, PAD, PAD], fill=0)
    x = TF.crop(x, PAD + sy, PAD + sx, H, W)
    if flip:
        x = TF.hflip(x)
    if angle:
        x = TF.rotate(x, angle, interpolation=InterpolationMode.NEAREST, fill=0)
    print(f"case {sy} {sx} {flip} {angle}")
    print(bytes(x.flatten().tolist()).hex())
