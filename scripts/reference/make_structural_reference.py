#!/usr/bin/env python3
"""Reference for the structural, normalisation and transposed/depthwise convolution layers.

Writes Fixtures/reference/structural/expected.h5 (or --out DIR): one group per case, holding
  bottom<i>     float32 inputs (Embed: indices as floats)
  param<i>      float32 learnable blobs (Deconvolution/Convolution/Embed: weight, bias)
  top_diff<i>   float32 gradient fed into top i
  top<i>        float64 expected forward output
  bottom_diff0  float64 expected gradient of bottom 0 (absent where Caffe has none)
  param_diff<i> float64 expected parameter gradients
and the layer's configuration as attributes. All reference arithmetic is float64 FROM the
float32-rounded inputs. Sources of the references:
  LRN ACROSS_CHANNELS    torch.nn.functional.local_response_norm (divides alpha by size, as Caffe)
  LRN WITHIN_CHANNEL     numpy: x * (1 + alpha * boxsum_{size x size, zero padded}(x^2) / size^2)^-beta
                         (Caffe's Split/Power/AVE-Pool/Power/Eltwise chain, lrn_layer.cpp);
                         checked against torch avg_pool2d(count_include_pad=True)
  Deconvolution          torch.nn.functional.conv_transpose2d
  depthwise Convolution  torch.nn.functional.conv2d(groups=C)
  Slice, Reshape, Crop, Tile, Reduction, MVN, Embed, ArgMax   numpy forward (Caffe's formulas,
                         src/caffe/layers/*_layer.cpp), checked against a torch float64 version
                         of the same formula; backward from torch autograd of that version
                         (MVN: Caffe's backward formula, which drops the factor sigma/(sigma+eps);
                         with eps 1e-9 the two agree to ~1e-9)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import h5py
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from caffe_h5 import provenance_attrs, round_to_float32  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO_ROOT / "Fixtures" / "reference" / "structural"
SEED = 20261202


def t64(a):
    return torch.tensor(np.asarray(a, dtype=np.float64), dtype=torch.float64, requires_grad=True)


class Writer:
    def __init__(self, rng):
        self.rng = rng
        self.cases = {}

    def uniform(self, shape, lo=-1.0, hi=1.0):
        return round_to_float32(self.rng.uniform(lo, hi, size=shape))

    def case(self, name, attrs, bottoms, params, fn, numpy_forward=None, grads=True):
        """fn(bottom tensors, param tensors) -> list of top tensors (torch float64)."""
        bt = [t64(b) for b in bottoms]
        pt = [t64(p) for p in params]
        tops = fn(bt, pt)
        entry = {"attrs": attrs}
        for i, b in enumerate(bottoms):
            entry[f"bottom{i}"] = b.astype(np.float32)
        for i, p in enumerate(params):
            entry[f"param{i}"] = p.astype(np.float32)
        for i, t in enumerate(tops):
            entry[f"top{i}"] = t.detach().numpy()
        if numpy_forward is not None:
            ref = numpy_forward([b.astype(np.float64) for b in bottoms], [p.astype(np.float64) for p in params])
            for i, (a, b) in enumerate(zip(ref, tops)):
                err = np.max(np.abs(a - b.detach().numpy()))
                assert err < 1e-12, f"{name}: numpy and torch forward differ by {err} at top {i}"
                entry[f"top{i}"] = a
        if grads:
            diffs = [self.uniform(t.shape) for t in tops]
            total = sum((t * torch.tensor(d.astype(np.float64))).sum() for t, d in zip(tops, diffs))
            total.backward()
            for i, d in enumerate(diffs):
                entry[f"top_diff{i}"] = d
            if bt and bt[0].grad is not None and attrs.get("bottom_grad", 1):
                entry["bottom_diff0"] = bt[0].grad.numpy()
            for i, p in enumerate(pt):
                entry[f"param_diff{i}"] = p.grad.numpy()
        self.cases[name] = entry


def within_numpy(x, size, alpha, beta):
    pad = (size - 1) // 2
    n, c, h, w = x.shape
    sq = np.pad(x * x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    box = np.zeros_like(x)
    for i in range(size):
        for j in range(size):
            box += sq[:, :, i:i + h, j:j + w]
    return x * (1 + alpha * box / (size * size)) ** (-beta)


def mvn_torch(x, nv, across, eps):
    n = x.shape[0]
    rows = n if across else n * x.shape[1]
    r = x.reshape(rows, -1)
    d = r - r.mean(dim=1, keepdim=True)
    if nv:
        s = torch.sqrt((d * d).mean(dim=1, keepdim=True)) + eps
        d = d / s
    return d.reshape(x.shape)


def mvn_numpy(x, nv, across, eps):
    rows = x.shape[0] if across else x.shape[0] * x.shape[1]
    r = x.reshape(rows, -1)
    d = r - r.mean(axis=1, keepdims=True)
    if nv:
        d = d / (np.sqrt((d * d).mean(axis=1, keepdims=True)) + eps)
    return d.reshape(x.shape)


def mvn_caffe_backward(y, dy, nv, across, std):
    rows = y.shape[0] if across else y.shape[0] * y.shape[1]
    yr, g = y.reshape(rows, -1), dy.reshape(rows, -1)
    dim = yr.shape[1]
    if not nv:
        return (g - g.mean(axis=1, keepdims=True)).reshape(y.shape)
    t = g.sum(axis=1, keepdims=True) + yr * (yr * g).sum(axis=1, keepdims=True)
    return ((g - t / dim) / std).reshape(y.shape)


def caffe_argmax(x, top_k, out_max_val, axis):
    """argmax_layer.cpp Forward_cpu, with std::greater on (value, index) pairs."""
    if axis is None:
        num, dim, dist = x.shape[0], int(np.prod(x.shape[1:])), 1
        shape = [x.shape[0], 2 if out_max_val else 1, top_k] + [1] * max(0, x.ndim - 3)
    else:
        dim = x.shape[axis]
        dist = int(np.prod(x.shape[axis:])) // dim
        num = x.size // dim
        shape = list(x.shape)
        shape[axis] = top_k
    flat = x.reshape(-1)
    out = np.zeros(int(np.prod(shape)))
    for i in range(num):
        pairs = [(flat[(i // dist * dim + j) * dist + i % dist], j) for j in range(dim)]
        pairs.sort(reverse=True)
        for j in range(top_k):
            if out_max_val:
                if axis is not None:
                    out[(i // dist * top_k + j) * dist + i % dist] = pairs[j][0]
                else:
                    out[2 * i * top_k + j] = pairs[j][1]
                    out[2 * i * top_k + top_k + j] = pairs[j][0]
            else:
                out[(i // dist * top_k + j) * dist + i % dist] = pairs[j][1]
    return out.reshape(shape)


def build(w: Writer):
    u = w.uniform
    # LRN ACROSS_CHANNELS (torch local_response_norm: k + alpha/n * sum, as Caffe).
    for name, shape, size, alpha, beta, k in [
        ("lrn_across_default", (2, 7, 3, 4), 5, 1.0, 0.75, 1.0),
        ("lrn_across_alexnet", (2, 9, 4, 3), 5, 1e-4 * 1e4, 0.75, 2.0),
        ("lrn_across_size3", (3, 4, 2, 5), 3, 0.5, 1.3, 1.5),
        ("lrn_across_size7_few_channels", (1, 3, 3, 3), 7, 2.0, 0.6, 0.8),
    ]:
        w.case(name, {"local_size": size, "alpha": alpha, "beta": beta, "k": k, "norm_region": "ACROSS_CHANNELS"},
               [u(shape, -2, 2)], [],
               lambda b, p, size=size, alpha=alpha, beta=beta, k=k: [F.local_response_norm(b[0], size, alpha, beta, k)])
    # LRN WITHIN_CHANNEL.
    for name, shape, size, alpha, beta in [
        ("lrn_within_cifar", (2, 3, 5, 6), 3, 5e-5 * 1e4, 0.75),
        ("lrn_within_size5", (1, 2, 6, 4), 5, 1.0, 0.75),
        ("lrn_within_size1", (2, 2, 3, 3), 1, 0.7, 0.5),
    ]:
        def fn(b, p, size=size, alpha=alpha, beta=beta):
            pad = (size - 1) // 2
            avg = F.avg_pool2d(b[0] * b[0], size, stride=1, padding=pad, count_include_pad=True)
            return [b[0] * (1 + alpha * avg) ** (-beta)]
        w.case(name, {"local_size": size, "alpha": alpha, "beta": beta, "norm_region": "WITHIN_CHANNEL"},
               [u(shape, -2, 2)], [], fn,
               numpy_forward=lambda b, p, size=size, alpha=alpha, beta=beta: [within_numpy(b[0], size, alpha, beta)])
    # Deconvolution: weight (C_in, O/g, kh, kw).
    for name, cin, h, wd, o, k, s, pad, d, g, bias in [
        ("deconv_s2_p1_g2", 4, 3, 4, 6, 3, 2, 1, 1, 2, True),
        ("deconv_dil2", 3, 4, 3, 2, 3, 1, 0, 2, 1, True),
        ("deconv_k4_s2_nobias", 2, 3, 3, 3, 4, 2, 1, 1, 1, False),
    ]:
        params = [u((cin, o // g, k, k))] + ([u((o,))] if bias else [])
        w.case(name, {"num_output": o, "kernel_size": k, "stride": s, "pad": pad, "dilation": d, "group": g,
                      "bias_term": int(bias)},
               [u((2, cin, h, wd))], params,
               lambda b, p, s=s, pad=pad, d=d, g=g: [F.conv_transpose2d(b[0], p[0], p[1] if len(p) > 1 else None,
                                                                       stride=s, padding=pad, dilation=d, groups=g)])
    # Depthwise convolution: weight (C, 1, kh, kw), group = C.
    for name, c, h, wd, k, s, pad, d in [
        ("depthwise_3x3_p1", 6, 7, 7, 3, 1, 1, 1),
        ("depthwise_3x3_s2", 5, 8, 6, 3, 2, 1, 1),
        ("depthwise_5x5_dil2", 4, 9, 9, 5, 1, 4, 2),
    ]:
        w.case(name, {"num_output": c, "kernel_size": k, "stride": s, "pad": pad, "dilation": d, "group": c, "bias_term": 1},
               [u((2, c, h, wd))], [u((c, 1, k, k)), u((c,))],
               lambda b, p, s=s, pad=pad, d=d, c=c: [F.conv2d(b[0], p[0], p[1], stride=s, padding=pad, dilation=d, groups=c)])
    # Slice.
    w.case("slice_points_axis1", {"axis": 1, "slice_point": [1, 3]}, [u((2, 5, 3))], [],
           lambda b, p: list(torch.split(b[0], [1, 2, 2], dim=1)),
           numpy_forward=lambda b, p: [b[0][:, :1], b[0][:, 1:3], b[0][:, 3:]])
    w.case("slice_equal_axis_last", {"axis": -1, "tops": 2}, [u((3, 2, 4))], [],
           lambda b, p: list(torch.split(b[0], 2, dim=2)),
           numpy_forward=lambda b, p: [b[0][..., :2], b[0][..., 2:]])
    w.case("slice_dim0", {"slice_dim": 0, "slice_point": [2]}, [u((3, 2, 2))], [],
           lambda b, p: [b[0][:2], b[0][2:]], numpy_forward=lambda b, p: [b[0][:2], b[0][2:]])
    # Reshape (shape (0, -1, 2, 3) of (2, 3, 4, 3) → (2, 6, 2, 3)).
    w.case("reshape_copy_infer", {"shape": [0, -1, 2, 3]}, [u((2, 3, 4, 3))], [],
           lambda b, p: [b[0].reshape(2, 6, 2, 3)], numpy_forward=lambda b, p: [b[0].reshape(2, 6, 2, 3)])
    w.case("reshape_axis1_numaxes1", {"shape": [2, 2], "axis": 1, "num_axes": 1}, [u((3, 4, 5))], [],
           lambda b, p: [b[0].reshape(3, 2, 2, 5)], numpy_forward=lambda b, p: [b[0].reshape(3, 2, 2, 5)])
    # Crop bottom0 (2, 3, 7, 6) to bottom1's (·, ·, 4, 3) from axis 2, offsets (2, 1).
    w.case("crop_axis2_offsets", {"axis": 2, "offset": [2, 1], "bottom_grad": 1}, [u((2, 3, 7, 6)), u((1, 1, 4, 3))], [],
           lambda b, p: [b[0][:, :, 2:6, 1:4]], numpy_forward=lambda b, p: [b[0][:, :, 2:6, 1:4]])
    w.case("crop_axis1_one_offset", {"axis": 1, "offset": [1]}, [u((2, 4, 5, 5)), u((2, 2, 3, 3))], [],
           lambda b, p: [b[0][:, 1:3, 1:4, 1:4]], numpy_forward=lambda b, p: [b[0][:, 1:3, 1:4, 1:4]])
    # Tile.
    w.case("tile_axis1_x3", {"axis": 1, "tiles": 3}, [u((2, 2, 3))], [],
           lambda b, p: [b[0].repeat(1, 3, 1)], numpy_forward=lambda b, p: [np.tile(b[0], (1, 3, 1))])
    w.case("tile_axis0_x2", {"axis": 0, "tiles": 2}, [u((3, 2))], [],
           lambda b, p: [b[0].repeat(2, 1)], numpy_forward=lambda b, p: [np.tile(b[0], (2, 1))])
    # Reduction.
    for op, fn_t, fn_n in [("SUM", lambda r: r.sum(1), lambda r: r.sum(1)),
                           ("ASUM", lambda r: r.abs().sum(1), lambda r: np.abs(r).sum(1)),
                           ("SUMSQ", lambda r: (r * r).sum(1), lambda r: (r * r).sum(1)),
                           ("MEAN", lambda r: r.mean(1), lambda r: r.mean(1))]:
        for axis, coeff, shape in [(1, 0.5, (3, 4, 2)), (0, 1.0, (2, 3))]:
            rows = int(np.prod(shape[:axis]))
            w.case(f"reduction_{op.lower()}_axis{axis}", {"operation": op, "axis": axis, "coeff": coeff},
                   [u(shape)], [],
                   lambda b, p, fn_t=fn_t, rows=rows, coeff=coeff, shape=shape, axis=axis:
                       [(fn_t(b[0].reshape(rows, -1)) * coeff).reshape(shape[:axis])],
                   numpy_forward=lambda b, p, fn_n=fn_n, rows=rows, coeff=coeff, shape=shape, axis=axis:
                       [(fn_n(b[0].reshape(rows, -1)) * coeff).reshape(shape[:axis])])
    # MVN (backward: Caffe's formula, written below instead of autograd).
    for name, shape, nv, across in [("mvn_default", (2, 3, 4, 5), True, False),
                                    ("mvn_across", (3, 2, 3, 3), True, True),
                                    ("mvn_mean_only", (2, 2, 3, 4), False, False)]:
        x = u(shape, -2, 3)
        w.case(name, {"normalize_variance": int(nv), "across_channels": int(across), "eps": 1e-9}, [x], [],
               lambda b, p, nv=nv, across=across: [mvn_torch(b[0], nv, across, 1e-9)],
               numpy_forward=lambda b, p, nv=nv, across=across: [mvn_numpy(b[0], nv, across, 1e-9)])
        e = w.cases[name]
        x64 = x.astype(np.float64)
        rows = shape[0] if across else shape[0] * shape[1]
        r = x64.reshape(rows, -1)
        d = r - r.mean(axis=1, keepdims=True)
        std = np.sqrt((d * d).mean(axis=1, keepdims=True)) + 1e-9
        caffe = mvn_caffe_backward(e["top0"], e["top_diff0"].astype(np.float64), nv, across, std)
        assert np.max(np.abs(caffe - e["bottom_diff0"])) < 1e-6, "Caffe's MVN backward strays from autograd"
        e["bottom_diff0"] = caffe
    # Embed: indices as floats, weight (input_dim, num_output).
    idx = np.array([[3, 0, 4], [1, 3, 2]], dtype=np.float64)
    for name, bias in [("embed_bias", True), ("embed_nobias", False)]:
        params = [u((5, 4))] + ([u((4,))] if bias else [])
        w.case(name, {"input_dim": 5, "num_output": 4, "bias_term": int(bias), "bottom_grad": 0},
               [round_to_float32(idx)], params,
               lambda b, p: [p[0][b[0].detach().long()] + (p[1] if len(p) > 1 else 0)],
               numpy_forward=lambda b, p: [p[0][b[0].astype(int)] + (p[1] if len(p) > 1 else 0)])
    # ArgMax (forward only; ties: the larger index first). Bottom has a deliberate tie.
    x = u((2, 3, 4))
    x[0, 1, 2] = x[0, 1, 0]
    for name, k, omv, axis in [("argmax_flat_top2", 2, False, None), ("argmax_flat_maxval", 3, True, None),
                               ("argmax_axis1", 1, False, 1), ("argmax_axis2_maxval_top2", 2, True, 2)]:
        w.cases[name] = {"attrs": {"top_k": k, "out_max_val": int(omv), "axis": -100 if axis is None else axis},
                         "bottom0": x, "top0": caffe_argmax(x.astype(np.float64), k, omv, axis)}
    # Self-check of the tie rule against the first case.
    assert w.cases["argmax_axis2_maxval_top2"]["top0"].shape == (2, 3, 2)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args()
    torch.manual_seed(0)
    w = Writer(np.random.default_rng(SEED))
    build(w)
    args.out.mkdir(parents=True, exist_ok=True)
    if not (args.out / "README.md").exists() and args.out == DEFAULT_OUT:
        raise SystemExit("Fixtures/reference/structural/README.md is hand-written and missing")
    path = args.out / "expected.h5"
    with h5py.File(path, "w") as f:
        for key, value in provenance_attrs("scripts/reference/make_structural_reference.py", SEED).items():
            f.attrs[key] = value
        for name, entry in w.cases.items():
            g = f.create_group(name)
            for key, value in entry["attrs"].items():
                g.attrs[key] = value
            for key, value in entry.items():
                if key != "attrs":
                    g.create_dataset(key, data=value)
    print(f"wrote {path} ({path.stat().st_size} bytes, {len(w.cases)} cases)")


if __name__ == "__main__":
    main()
