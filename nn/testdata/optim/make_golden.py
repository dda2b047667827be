"""Makes the goldens for nn's optimiser and checkpoint tests.

Run from anywhere with Debian's interpreter (python3-torch 1.13):

    /usr/bin/python3 nn/testdata/optim/make_golden.py

It writes, beside this file:

optim.json
    Fixed initial Params ("init.<param>"), a fixed sequence of gradients
    ("grad.<step>.<param>"), and for each optimiser configuration "<cfg>" its
    hyperparameters ("<cfg>.hp.<name>"), the Params after every step
    ("<cfg>.<step>.<param>") and PyTorch's optimiser state after the last step
    under our state names ("<cfg>.state.<param>.<slot>").
torch.safetensors, torch_safetensors.json
    A safetensors file written by the small spec-following writer below
    (python3-torch has no safetensors package) with F32, F16, BF16, F64 and I64
    tensors and metadata, and the values Go must read from it, as float32.

It also reads go.safetensors, which Go's TestSafetensorsGoFile writes
(VIDSSL_UPDATE_GOLDEN=1), checks its layout and values, and checks that the
writer below produces the same bytes from the same tensors.
"""
import json
import os
import struct
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "../../../internal/golden"))
import golden  # noqa: E402

STEPS = 6

# Each configuration: (name, optimiser class, keyword arguments).
CONFIGS = [
    ("adam", torch.optim.Adam, dict(lr=1e-2)),
    ("adam_wd", torch.optim.Adam, dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("adam_lr01", torch.optim.Adam, dict(lr=0.1)),
    ("sgd", torch.optim.SGD, dict(lr=0.1)),
    ("sgd_momentum", torch.optim.SGD, dict(lr=0.1, momentum=0.9, weight_decay=1e-2)),
    ("sgd_nesterov", torch.optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)),
    ("sgd_dampening", torch.optim.SGD, dict(lr=0.1, momentum=0.5, dampening=0.25)),
]


def make_params_and_grads():
    g = torch.Generator().manual_seed(1234)
    init = {
        "w": torch.randn(3, 4, generator=g),
        "b": torch.randn(4, generator=g),
        # Gradients of "tiny" are ~1e-8, so Adam's eps matters.
        "tiny": torch.randn(5, generator=g),
    }
    grads = []
    for step in range(STEPS):
        gs = {
            "w": torch.randn(3, 4, generator=g),
            "b": torch.randn(4, generator=g) * 10,
            "tiny": torch.randn(5, generator=g) * 1e-8,
        }
        gs["w"][0, 0] = 0.0  # an exactly zero gradient element
        grads.append(gs)
    return init, grads


def hyperparameters(kw):
    betas = kw.get("betas", (0.9, 0.999))
    return {
        "lr": kw["lr"],
        "beta1": betas[0],
        "beta2": betas[1],
        "eps": kw.get("eps", 1e-8),
        "weight_decay": kw.get("weight_decay", 0.0),
        "momentum": kw.get("momentum", 0.0),
        "dampening": kw.get("dampening", 0.0),
        "nesterov": 1.0 if kw.get("nesterov", False) else 0.0,
    }


def optim_goldens():
    init, grads = make_params_and_grads()
    out = {}
    for name, t in init.items():
        out["init." + name] = t
    for step, gs in enumerate(grads):
        for name, t in gs.items():
            out["grad.%d.%s" % (step, name)] = t
    for cfg, cls, kw in CONFIGS:
        for k, v in hyperparameters(kw).items():
            out["%s.hp.%s" % (cfg, k)] = float(v)
        names = list(init)
        params = [init[n].clone().requires_grad_(True) for n in names]
        extra = {"foreach": False}
        opt = cls(params, **kw, **extra)
        for step in range(STEPS):
            for n, p in zip(names, params):
                p.grad = grads[step][n].clone()
            opt.step()
            for n, p in zip(names, params):
                out["%s.%d.%s" % (cfg, step, n)] = p.detach().clone()
        for n, p in zip(names, params):
            for slot, v in opt.state[p].items():
                if v is None:
                    continue
                out["%s.state.%s.%s" % (cfg, n, slot)] = v.detach().clone().double()
    golden.save(os.path.join(HERE, "optim.json"), out)


# --- safetensors, following https://github.com/huggingface/safetensors ---

# The reference writer orders tensors by dtype (descending in this list, the
# Rust enum order), then by name.
DTYPE_ORDER = ["BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16",
               "BF16", "I32", "U32", "F32", "F64", "I64", "U64"]
TORCH_DTYPES = {
    torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.float64: "F64", torch.int64: "I64",
}
NUMPY_DTYPES = {"F32": "<f4", "F16": "<f2", "F64": "<f8", "I64": "<i8"}


def to_bytes(t):
    t = t.contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().astype("<i2").tobytes()
    return t.numpy().astype(NUMPY_DTYPES[TORCH_DTYPES[t.dtype]]).tobytes()


def write_safetensors(tensors, metadata):
    items = sorted(tensors.items(),
                   key=lambda kv: (-DTYPE_ORDER.index(TORCH_DTYPES[kv[1].dtype]), kv[0]))
    header = {}
    if metadata:
        header["__metadata__"] = dict(sorted(metadata.items()))
    data = b""
    for name, t in items:
        b = to_bytes(t)
        header[name] = {"dtype": TORCH_DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [len(data), len(data) + len(b)]}
        data += b
    h = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + data


def read_safetensors(raw):
    (n,) = struct.unpack("<Q", raw[:8])
    assert 8 + n <= len(raw), "header longer than file"
    assert n % 8 == 0, "header not padded to 8 bytes"
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", {})
    data = raw[8 + n:]
    out = {}
    end = 0
    for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"]):
        b, e = info["data_offsets"]
        assert b == end, "gap or overlap at %s" % name
        end = e
        buf = data[b:e]
        shape = info["shape"]
        if info["dtype"] == "BF16":
            bits = np.frombuffer(buf, dtype="<u2").astype(np.uint32) << 16
            arr = bits.view(np.float32)
        else:
            arr = np.frombuffer(buf, dtype=NUMPY_DTYPES[info["dtype"]])
        out[name] = (info["dtype"], torch.from_numpy(arr.copy()).reshape(shape))
    assert end == len(data), "data not fully covered"
    return out, metadata, header


def torch_file():
    g = torch.Generator().manual_seed(99)
    tensors = {
        "stem.0.weight": torch.randn(2, 3, 1, 2, 2, generator=g),
        "stem.1.running_var": (torch.rand(3, generator=g) + 0.5).half(),
        "stem.1.num_batches_tracked": torch.tensor(1234, dtype=torch.int64),
        "layer1.0.conv1.0.weight": torch.randn(2, 3, generator=g).bfloat16(),
        "fc.weight": torch.randn(2, 2, generator=g).double(),
        "fc.bias": torch.tensor(0.25),
        "counts": torch.tensor([-3, 0, 7, 2 ** 40], dtype=torch.int64),
        "half.special": torch.tensor([-65504.0, -0.0, 6.1e-5, 5.96e-8, 65504.0], dtype=torch.float16),
    }
    metadata = {"format": "pt", "epoch": "7", "note": "made by make_golden.py"}
    raw = write_safetensors(tensors, metadata)
    with open(os.path.join(HERE, "torch.safetensors"), "wb") as f:
        f.write(raw)
    expected = {name: t.float() for name, t in tensors.items()}
    golden.save(os.path.join(HERE, "torch_safetensors.json"), expected)
    # Our reader reads what our writer wrote.
    back, meta, _ = read_safetensors(raw)
    assert meta == metadata
    for name, t in tensors.items():
        assert back[name][1].float().equal(t.float()), name


def go_values():
    """The tensors TestSafetensorsGoFile writes, as Go makes them."""
    return {
        "a.weight": torch.arange(24, dtype=torch.float32).reshape(2, 3, 4) / 8 - 1,
        "a.bias": torch.tensor([0.5, -2.0, 3.0e-38, 1.0e38], dtype=torch.float32),
        "bn.num_batches_tracked": torch.tensor(42, dtype=torch.int64),
        "scalar": torch.tensor(-1.5, dtype=torch.float32),
    }, {"epoch": "3", "note": "vidssl <go> & \"quotes\" \u00e9"}


def check_go_file():
    path = os.path.join(HERE, "go.safetensors")
    if not os.path.exists(path):
        print("go.safetensors missing: run VIDSSL_UPDATE_GOLDEN=1 go test ./nn -run SafetensorsGoFile, then rerun")
        return
    with open(path, "rb") as f:
        raw = f.read()
    back, meta, header = read_safetensors(raw)
    want, want_meta = go_values()
    assert meta == want_meta, meta
    assert set(back) == set(want), set(back)
    for name, t in want.items():
        dtype, got = back[name]
        assert dtype == TORCH_DTYPES[t.dtype], (name, dtype)
        assert list(got.shape) == list(t.shape), (name, got.shape)
        assert got.equal(t), (name, got, t)
    # Byte for byte what the reference layout gives.
    assert write_safetensors(want, want_meta) == raw, "go.safetensors differs from the reference layout"
    print("go.safetensors: ok")


if __name__ == "__main__":
    torch.manual_seed(0)
    optim_goldens()
    torch_file()
    check_go_file()
