"""Writes golden files for vidssl's Go tests: {name: {"shape": [...], "data": [...]}}.

Import from a package's testdata script:
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../../internal/golden"))
    import golden
"""
import json


def tensor(t):
    """Converts a torch tensor (or anything with .tolist / numpy) to the JSON form."""
    t = t.detach().double().contiguous()
    return {"shape": list(t.shape), "data": t.reshape(-1).tolist()}


def save(path, tensors):
    """Writes a dict of name -> torch tensor (or float) to path."""
    import torch
    out = {}
    for k, v in tensors.items():
        if not torch.is_tensor(v):
            v = torch.tensor(v, dtype=torch.float64)
        out[k] = tensor(v)
    with open(path, "w") as f:
        json.dump(out, f, separators=(",", ":"))
