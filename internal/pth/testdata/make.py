"""Writes the golden files for package pth (run from anywhere with Debian's python):

    /usr/bin/python3 internal/pth/testdata/make.py [--r3d18 /tmp/r3d18.pth]

It saves small state dicts with torch.save (zip format) beside this script and
writes golden.json: for every file, the top-level keys, the root that pth is
expected to pick, and every tensor in file order as name, dtype, shape, the
float32 bit patterns of t.float() ("bits") and, for int32/int64, the exact
values ("ints"). Bit patterns make the comparison exact, NaN and Inf included.

r3d18.json lists torchvision's r3d_18 state_dict names, shapes and dtypes; the
130 MB .pth itself is written only when --r3d18 names a path (it is not
committed; the Go test reads it from $VIDSSL_R3D18_PTH).
"""
import collections
import json
import os
import sys

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
DTYPES = {
    torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16",
    torch.float64: "float64", torch.int64: "int64", torch.int32: "int32",
    torch.int16: "int16", torch.int8: "int8", torch.uint8: "uint8", torch.bool: "bool",
}
ROOT_KEYS = ["state_dict", "model_state_dict", "model", "encoder"]


def flatten(obj, prefix, out):
    """Mirrors pth's naming: dict keys and list indices joined with dots."""
    if torch.is_tensor(obj):
        out.append((prefix, obj))
    elif isinstance(obj, dict):
        for k, v in obj.items():
            flatten(v, f"{prefix}.{k}" if prefix else str(k), out)
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            flatten(v, f"{prefix}.{i}" if prefix else str(i), out)


def is_tensor_dict(obj):
    return isinstance(obj, dict) and all(
        torch.is_tensor(v) or is_tensor_dict(v) for v in obj.values())


def root(obj):
    if not isinstance(obj, dict) or is_tensor_dict(obj):
        return ""
    for k in ROOT_KEYS:
        v = obj.get(k)
        if isinstance(v, dict):
            found = []
            flatten(v, "", found)
            if found:
                return k
    return ""


def describe(name, t):
    t = t.detach()
    f = t.float().contiguous().reshape(-1)
    d = {"name": name, "dtype": DTYPES[t.dtype], "shape": list(t.shape),
         "bits": [b & 0xFFFFFFFF for b in f.view(torch.int32).tolist()]}
    if t.dtype in (torch.int64, torch.int32):
        d["ints"] = t.reshape(-1).tolist()
    return d


def save(golden, fname, obj):
    torch.save(obj, os.path.join(HERE, fname))
    # Read back what was written, so the goldens describe the file itself.
    back = torch.load(os.path.join(HERE, fname))
    tensors = []
    flatten(back, "", tensors)
    golden[fname] = {
        "keys": [str(k) for k in back] if isinstance(back, dict) else [],
        "root": root(back),
        "tensors": [describe(n, t) for n, t in tensors],
    }


class Small(nn.Module):
    """A tiny 3-D CNN with torchvision-like nesting and a BatchNorm."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv3d(1, 2, kernel_size=(1, 2, 2), bias=False),
                                  nn.BatchNorm3d(2), nn.ReLU())
        self.fc = nn.Linear(2, 3)


def main():
    torch.manual_seed(0)
    golden = {}

    base = torch.arange(24, dtype=torch.float32) / 8 - 1
    mat = torch.randn(3, 4)
    half = torch.tensor([0.0, -0.0, 1.0, -2.5, 65504.0, 6.1035156e-05, 5.9604645e-08,
                         -3.0517578e-05, float("inf"), float("-inf"), float("nan"), 0.1],
                        dtype=torch.float16)
    basic = collections.OrderedDict()
    basic["f32"] = mat
    basic["f32_t"] = mat.t()                      # non-contiguous, same storage as f32
    basic["view_a"] = base[2:8].view(2, 3)        # shared storage with an offset
    basic["view_b"] = base[10:22:3]               # offset and stride 3
    basic["perm"] = base.view(2, 3, 4).permute(2, 0, 1)
    basic["f16"] = half
    basic["bf16"] = torch.tensor([1.0, -3.140625, 1e30, -1e-30], dtype=torch.bfloat16)
    basic["f64"] = torch.tensor([[0.1, 1 / 3], [1e-40, 3.4028236e38]], dtype=torch.float64)
    basic["i64"] = torch.tensor([0, -5, 2**24 + 1, 2**40 + 3, -(2**62) - 7], dtype=torch.int64)
    basic["i32"] = torch.tensor([[7, -2**31], [2**31 - 1, 16777217]], dtype=torch.int32)
    basic["i16"] = torch.tensor([-300, 300], dtype=torch.int16)
    basic["i8"] = torch.tensor([-128, 127], dtype=torch.int8)
    basic["u8"] = torch.tensor([0, 1, 255], dtype=torch.uint8)
    basic["bool"] = torch.tensor([True, False, True])
    basic["scalar"] = torch.tensor(2.5)
    basic["scalar_i64"] = torch.tensor(9, dtype=torch.int64)
    basic["empty"] = torch.zeros(0, 3)
    basic["param"] = nn.Parameter(torch.tensor([1.5, -1.5]))
    basic["expand"] = torch.tensor([4.0]).expand(3)  # stride 0
    save(golden, "basic.pth", basic)

    model = Small()
    model.train()
    model.stem(torch.randn(2, 1, 1, 3, 3))  # updates running stats
    with torch.no_grad():
        model.stem[1].running_mean.add_(0.25)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model.fc(torch.randn(4, 2)).sum().backward()
    opt.step()
    save(golden, "bn.pth", model.state_dict())
    save(golden, "checkpoint.pth", {"epoch": 3, "arch": "small", "best": 0.75,
                                    "state_dict": model.state_dict(),
                                    "optimizer": opt.state_dict(),
                                    "ema": [torch.full((2,), 3.0), (torch.tensor(-1.0),)]})
    save(golden, "nested.pth", {"encoder": {"w": torch.ones(2), "inner": {"b": torch.zeros(1)}},
                                "head": {"w": torch.full((2,), 3.0)}})
    save(golden, "model_key.pth", {"model": {"w": torch.ones(1, 2)}, "args": None, "step": 10})

    torch.save({"w": torch.ones(2)}, os.path.join(HERE, "legacy.pth"),
               _use_new_zipfile_serialization=False)
    torch.jit.save(torch.jit.script(nn.Linear(2, 1)), os.path.join(HERE, "script.pt"))

    with open(os.path.join(HERE, "golden.json"), "w") as f:
        json.dump(golden, f, indent=1)

    from torchvision.models.video import r3d_18
    sd = r3d_18().state_dict()
    with open(os.path.join(HERE, "r3d18.json"), "w") as f:
        json.dump([{"name": k, "dtype": DTYPES[v.dtype], "shape": list(v.shape)}
                   for k, v in sd.items()], f, indent=0)
    if len(sys.argv) == 3 and sys.argv[1] == "--r3d18":
        torch.save(sd, sys.argv[2])


if __name__ == "__main__":
    main()
