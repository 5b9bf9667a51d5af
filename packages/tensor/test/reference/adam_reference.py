#!/usr/bin/env python3
"""torch.optim.Adam (non-amsgrad, coupled weight_decay, foreach=False) re-implemented in float32 numpy,
following torch/optim/adam.py `_single_tensor_adam`:

    grad = grad + weight_decay * param
    exp_avg.lerp_(grad, 1 - beta1)
    exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    step_size = lr / (1 - beta1 ** step)
    denom = (exp_avg_sq.sqrt() / sqrt(1 - beta2 ** step)).add_(eps)
    param.addcdiv_(exp_avg, denom, value=-step_size)

Prints the parameter vector after every step; test/optim.test.ts pins these as literals.
"""
import math

import numpy as np

f32 = np.float32


def lerp(a, b, w):
    w = f32(w)
    return np.where(w < 0.5, a + w * (b - a), b - (b - a) * (f32(1) - w)).astype(f32)


def adam(p0, grads, lrs, beta1, beta2, eps, wd):
    p = np.asarray(p0, dtype=f32)
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    history = []
    for step, (g, lr) in enumerate(zip(grads, lrs), start=1):
        g = np.asarray(g, dtype=f32)
        if wd != 0:
            g = (g + f32(wd) * p).astype(f32)
        m = lerp(m, g, 1 - beta1)
        v = (v * f32(beta2) + f32(1 - beta2) * g * g).astype(f32)
        step_size = lr / (1 - beta1**step)
        bc2_sqrt = math.sqrt(1 - beta2**step)
        denom = (np.sqrt(v) / f32(bc2_sqrt) + f32(eps)).astype(f32)
        p = (p - f32(step_size) * (m / denom)).astype(f32)
        history.append([repr(float(x)) for x in p])
    return history


GRADS = [
    [0.3, -0.2, 0.05, 1.5],
    [0.1, -0.4, -0.05, 1.0],
    [-0.2, 0.3, 0.0, 0.5],
    [0.25, -0.1, 0.02, -0.5],
    [0.05, 0.05, -0.03, 0.2],
]
P0 = [0.5, -1.5, 2.0, 0.0]

print("A: lr=0.1 betas=(0.9,0.999) eps=1e-8 wd=0")
for row in adam(P0, GRADS, [0.1] * 5, 0.9, 0.999, 1e-8, 0):
    print(row)
print("B: lr=0.05 betas=(0.8,0.99) eps=0.1 wd=0.01")
for row in adam(P0, GRADS, [0.05] * 5, 0.8, 0.99, 0.1, 0.01):
    print(row)
print("C: per-step lr [0.1, 0.05, 0.02, 0.01, 0.005], defaults otherwise, wd=0.1")
for row in adam(P0, GRADS, [0.1, 0.05, 0.02, 0.01, 0.005], 0.9, 0.999, 1e-8, 0.1):
    print(row)
