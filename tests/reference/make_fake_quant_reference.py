#!/usr/bin/python3
"""Reference for scalec's FakeQuantize op (kernels/ops/fake_quant_ops.cpp) from PyTorch.

Run with Debian's Python (torch 1.13 CPU, numpy):

    /usr/bin/python3 tests/reference/make_fake_quant_reference.py

Writes fake_quant_torch.npz next to this file; tests/train/test_fake_quant_reference.cpp replays it.
Three cases, each with x, scale, zero_point, upstream gradient dy and PyTorch's outputs:
  pc_*   torch.fake_quantize_per_channel_affine (4-bit symmetric, axis 0, like a Conv weight):
         y and dx (straight-through estimator)
  lsq_*  torch._fake_quantize_learnable_per_channel_affine (axis 1, int8 asymmetric, like an
         activation, grad_factor 1/sqrt(n * qmax), n = 10 elements per channel): y, dx and dscale
         (LSQ, Esser et al. 2020); scalec computes that factor itself (FakeQuantize lsq=1)
  pt_*   torch._fake_quantize_learnable_per_tensor_affine (3-bit, grad_factor 1): y, dx, dscale
x is built as (k + u) * scale with u away from 1/2 (and exact in float32), so that x / s and PyTorch's
x * (1 / s) round alike; some k fall outside [qmin, qmax] so clamping is exercised on both sides.
Two runs give byte-identical files.
"""
import os

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))


def away_from_ties(rng, shape, scale_b, zp_b, qmin, qmax):
    k = rng.integers(qmin - 3, qmax + 4, size=shape) - zp_b
    u = rng.uniform(0.05, 0.4, size=shape) * rng.choice([-1.0, 1.0], size=shape)
    return ((k + u) * scale_b).astype(np.float32)


def case(rng, out, tag, shape, axis, qmin, qmax, symmetric, learnable, grad_factor):
    c = shape[axis] if axis is not None else 1
    scale = rng.uniform(0.02, 0.2, size=c).astype(np.float32)
    zp = np.zeros(c, np.int32) if symmetric else rng.integers(qmin + 10, qmax - 10, size=c).astype(np.int32)
    bshape = [1] * len(shape)
    if axis is not None:
        bshape[axis] = c
    x = away_from_ties(rng, shape, scale.reshape(bshape), zp.reshape(bshape), qmin, qmax)
    dy = rng.standard_normal(shape).astype(np.float32)
    xt = torch.tensor(x, requires_grad=True)
    st = torch.tensor(scale, requires_grad=learnable)
    if learnable and axis is not None:
        zt = torch.tensor(zp.astype(np.float32), requires_grad=True)
        y = torch._fake_quantize_learnable_per_channel_affine(xt, st, zt, axis, qmin, qmax, grad_factor)
    elif learnable:
        zt = torch.tensor(zp.astype(np.float32), requires_grad=True)
        y = torch._fake_quantize_learnable_per_tensor_affine(xt, st, zt, qmin, qmax, grad_factor)
    else:
        y = torch.fake_quantize_per_channel_affine(xt, st, torch.tensor(zp), axis, qmin, qmax)
    y.backward(torch.tensor(dy))
    out[tag + "_x"] = x
    out[tag + "_scale"] = scale
    out[tag + "_zero_point"] = zp
    out[tag + "_dy"] = dy
    out[tag + "_y"] = y.detach().numpy()
    out[tag + "_dx"] = xt.grad.numpy()
    if learnable:
        out[tag + "_dscale"] = st.grad.numpy()
    out[tag + "_range"] = np.array([qmin, qmax, -1 if axis is None else axis], np.int64)


def main():
    torch.manual_seed(0)
    rng = np.random.default_rng(25)
    out = {}
    case(rng, out, "pc", (6, 3, 3, 3), 0, -7, 7, True, False, 1.0)
    n = 2 * 5  # elements per channel of the [2, 4, 5] activation below, axis 1
    case(rng, out, "lsq", (2, 4, 5), 1, -128, 127, False, True, 1.0 / np.sqrt(n * 127))
    case(rng, out, "pt", (3, 7), None, -3, 3, True, True, 1.0)
    np.savez(os.path.join(HERE, "fake_quant_torch.npz"), **out)


if __name__ == "__main__":
    main()
