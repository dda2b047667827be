"""Writes clip_golden.txt: clip sampling as the paper's code computes it, in Python.

    /usr/bin/python3 gen_clips.py > clip_golden.txt   (any Python 3 with numpy)

Lines:
    eval <T> <L> <start> <start> <start> <start>
        starts = range(0, T-L, (T-L)//4)[:4] if T >= L+4 else [0]*4
    pad <T> <L> <stride> <index> ...
        a video too short for the clip: x[::stride] then zero frames (-1) up to L
    fit <T> <L> <stride> <lo> <hi>
        the clip fits; its start is uniform over lo..hi (inclusive), the first
        index is start and the rest follow at stride. (The public code draws
        np.random.choice(T - L*stride), i.e. hi = T-L*stride-1; we use every start
        at which the clip fits: hi = T - ((L-1)*stride + 1).)
"""
import numpy as np

for L in (1, 4, 16, 32):
    for T in range(1, 121):
        starts = list(range(0, T - L, (T - L) // 4))[:4] if T >= L + 4 else [0] * 4
        print("eval", T, L, *starts)

for L in (1, 4, 16):
    for stride in (1, 2, 3):
        for T in range(1, 70):
            span = (L - 1) * stride + 1
            if T < span:
                idx = list(np.arange(T)[::stride])
                idx += [-1] * (L - len(idx))
                print("pad", T, L, stride, *idx)
            else:
                print("fit", T, L, stride, 0, T - span)
