# Makes nonfinite.pth: a state dict with a NaN in fc.weight and +Inf in
# fc.bias, which resnet3d.ReadWeights must refuse, naming both.
# Run with Debian's python3-torch: /usr/bin/python3 resnet3d/testdata/make_nonfinite.py
import os
import torch

here = os.path.dirname(os.path.abspath(__file__))
torch.save(
    {
        "fc.weight": torch.tensor([[1.0, float("nan")]]),
        "fc.bias": torch.tensor([float("inf")]),
        "stem.1.running_mean": torch.zeros(2),
    },
    os.path.join(here, "nonfinite.pth"),
)
