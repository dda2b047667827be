"""Times torch.nn.functional.conv3d forward and forward+backward for convbench.

Reads JSON requests from stdin, one a line: {"threads": n, "iters": n,
"name", "x", "w", "stride", "padding"}, and answers each with one JSON line
{"name", "fwd", "fwdbwd"}: the best time in seconds of `iters` timed runs,
after a warm-up run, of the forward pass (no autograd) and of the forward
pass with the backward pass for the input and the weight.
"""
import json
import sys
import time

import torch
import torch.nn.functional as F


def best(f, iters):
    f()  # warm-up
    ts = []
    for _ in range(iters):
        t0 = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
    return min(ts)


def measure(req):
    torch.set_num_threads(req["threads"])
    torch.manual_seed(0)
    x = torch.randn(*req["x"])
    w = torch.randn(*req["w"])
    stride, padding = tuple(req["stride"]), tuple(req["padding"])

    def fwd():
        with torch.no_grad():
            F.conv3d(x, w, None, stride, padding)

    xg = x.clone().requires_grad_()
    wg = w.clone().requires_grad_()
    with torch.no_grad():
        dy = torch.randn_like(F.conv3d(x, w, None, stride, padding))

    def fwdbwd():
        y = F.conv3d(xg, wg, None, stride, padding)
        y.backward(dy)
        xg.grad = None
        wg.grad = None

    return {"name": req["name"], "fwd": best(fwd, req["iters"]), "fwdbwd": best(fwdbwd, req["iters"])}


def main():
    for line in sys.stdin:
        if line.strip():
            print(json.dumps(measure(json.loads(line))), flush=True)


if __name__ == "__main__":
    main()
