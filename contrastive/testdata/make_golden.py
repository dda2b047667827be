"""Writes ntxent.json, the golden file for contrastive's NT-Xent tests.

Run with Debian's PyTorch:  /usr/bin/python3 contrastive/testdata/make_golden.py

The reference is the public code's NT_Xent (CarDS-Yale, adapted from
Spijkervet/SimCLR), rewritten here: cosine similarity / tau over the 2N
stacked embeddings, the positive of row k is row (k+N) mod 2N, cross-entropy
with sum reduction over the 2N-1 others, divided by 2N. The masked variant
removes, for pairs i != j of one group, both of j's rows from i's negatives;
it is computed by setting those logits to -inf, and checked against the
public formulation when no group repeats.

Inputs are drawn in float32 and everything is computed in float64, so the
goldens are the exact answers for the float32 inputs.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "../../internal/golden"))
import golden  # noqa: E402

import torch  # noqa: E402


class PublicNTXent(torch.nn.Module):
    """The public code's loss (world_size 1), restated."""

    def __init__(self, batch_size, temperature):
        super().__init__()
        self.n = batch_size
        self.tau = temperature
        m = 2 * batch_size
        keep = torch.ones((m, m), dtype=torch.bool)
        keep.fill_diagonal_(False)
        for i in range(batch_size):
            keep[i, batch_size + i] = False
            keep[batch_size + i, i] = False
        self.keep = keep
        self.ce = torch.nn.CrossEntropyLoss(reduction="sum")
        self.cos = torch.nn.CosineSimilarity(dim=2)

    def forward(self, z1, z2):
        m = 2 * self.n
        z = torch.cat((z1, z2), dim=0)
        sim = self.cos(z.unsqueeze(1), z.unsqueeze(0)) / self.tau
        pos = torch.cat((torch.diag(sim, self.n), torch.diag(sim, -self.n))).reshape(m, 1)
        neg = sim[self.keep].reshape(m, -1)
        logits = torch.cat((pos, neg), dim=1)
        labels = torch.zeros(m, dtype=torch.long)
        return self.ce(logits, labels) / m


def masked_ntxent(z1, z2, tau, groups):
    """NT-Xent with same-group negatives removed (groups None: none removed)."""
    n = z1.shape[0]
    m = 2 * n
    z = torch.cat((z1, z2), dim=0)
    sim = torch.nn.functional.cosine_similarity(z.unsqueeze(1), z.unsqueeze(0), dim=2) / tau
    drop = torch.eye(m, dtype=torch.bool)
    if groups is not None:
        g = torch.tensor(groups).repeat(2)
        pair = torch.arange(m) % n
        same = (g.unsqueeze(0) == g.unsqueeze(1)) & (pair.unsqueeze(0) != pair.unsqueeze(1))
        drop = drop | same
    logits = sim.masked_fill(drop, float("-inf"))
    target = (torch.arange(m) + n) % m
    return torch.nn.functional.cross_entropy(logits, target, reduction="sum") / m


def f32(t):
    return t.float().double()


def case(gen, n, d, tau, groups, scale=1.0):
    z1 = f32(torch.randn(n, d, generator=gen) * scale).requires_grad_(True)
    z2 = f32(torch.randn(n, d, generator=gen) * scale).requires_grad_(True)
    if groups is None:
        loss = PublicNTXent(n, tau)(z1, z2)
        check = masked_ntxent(z1, z2, tau, None)
        assert torch.allclose(loss, check, rtol=1e-12, atol=1e-12), (loss, check)
    else:
        loss = masked_ntxent(z1, z2, tau, groups)
        if len(set(groups)) == n:  # nothing to mask: the public loss
            check = PublicNTXent(n, tau)(z1, z2)
            assert torch.allclose(loss, check, rtol=1e-12, atol=1e-12), (loss, check)
    loss.backward()
    out = {"z1": z1.detach(), "z2": z2.detach(), "tau": torch.tensor([tau], dtype=torch.float64),
           "loss": loss.detach().reshape(1), "dz1": z1.grad, "dz2": z2.grad}
    if groups is not None:
        out["groups"] = torch.tensor(groups, dtype=torch.float64)
    return out


def main():
    gen = torch.Generator().manual_seed(20240611)
    cases = {
        "n1": (1, 3, 0.5, None, 1.0),
        "n3_paper_tau": (3, 5, 0.05, None, 1.0),
        "n5": (5, 6, 1.0, None, 3.0),
        "n8": (8, 16, 0.2, None, 0.1),
        "n4_masked": (4, 8, 0.5, [0, 1, 0, 0], 1.0),
        "n6_masked": (6, 4, 0.1, [2, 2, 5, 7, 5, 2], 1.0),
        "n5_masked_distinct": (5, 3, 0.05, [9, 3, 1, 4, 0], 1.0),
        "n3_masked_one_group": (3, 5, 0.3, [1, 1, 1], 1.0),
    }
    out = {}
    for name, (n, d, tau, groups, scale) in cases.items():
        for k, v in case(gen, n, d, tau, groups, scale).items():
            out[name + "." + k] = v
    golden.save(os.path.join(HERE, "ntxent.json"), out)


if __name__ == "__main__":
    main()
