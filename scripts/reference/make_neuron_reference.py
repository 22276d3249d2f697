#!/usr/bin/env python3
"""Forward and backward references for Caffe's neuron layers, float64 by PyTorch.

Writes Fixtures/reference/neuron/expected.h5 (or --out DIR); the README.md there is hand-written.

One row per layer configuration (see the README there for the flat layout): its name, the Caffe
layer as prototxt text (bottom "x", top "y"), the input shape (2, 3, 4, 5) unless said otherwise,
the float32 input x and top diff dy, the float64 expected top y and bottom diff dx (none for
Threshold: Caffe has no backward), and for PReLU the float32 slopes given to the layer and the
float64 expected slope diff (added to a zero diff).
Parameters are float32 values (as Caffe stores them), widened exactly for the reference.

Each reference is a PyTorch float64 operation and its autograd gradient (torch.sigmoid, torch.tanh,
F.elu, torch.abs, torch.pow, torch.exp / base**v, torch.log, F.softplus, x > t, x*sigmoid(beta x),
torch.clamp, F.prelu); every one is also checked against an explicit re-statement of Caffe's
formula (BVLC/caffe src/caffe/layers/<name>_layer.cpp) before anything is written, including the
points where the two conventions could differ (Clip's gradient at x = min and x = max is passed by
Caffe: `x >= min && x <= max`; PReLU and ELU take x <= 0 as the negative branch).
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
from caffe_h5 import provenance_attrs  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO_ROOT / "Fixtures" / "reference" / "neuron"
SEED = 20261202
SHAPE = (2, 3, 4, 5)

rng = np.random.default_rng(SEED)


def f32(v: float) -> float:
    """The float32 value Caffe holds for a prototxt number, as a Python float."""
    return float(np.float32(v))


def draw(lo: float, hi: float, shape=SHAPE, specials: tuple[float, ...] = ()) -> np.ndarray:
    x = rng.uniform(lo, hi, size=shape).astype(np.float32)
    flat = x.reshape(-1)
    # Specials go to fixed, spread-out positions (exact float32 values).
    for k, v in enumerate(specials):
        flat[(7 + 13 * k) % flat.size] = np.float32(v)
    return x


def grad_of(fn, x: np.ndarray, dy: np.ndarray, extra: list[np.ndarray] | None = None):
    """y = fn(x, *extra) in float64 and the gradients of sum(y * dy) by autograd."""
    xt = torch.tensor(x.astype(np.float64), requires_grad=True)
    et = [torch.tensor(e.astype(np.float64), requires_grad=True) for e in (extra or [])]
    y = fn(xt, *et)
    (y * torch.tensor(dy.astype(np.float64))).sum().backward()
    return y.detach().numpy(), xt.grad.numpy(), [e.grad.numpy() for e in et]


def check(name: str, what: str, got: np.ndarray, want: np.ndarray, rtol: float = 1e-12) -> None:
    scale = max(np.max(np.abs(want)), 1e-300)
    err = np.max(np.abs(got - want)) / scale
    if not np.all(np.isfinite(got)) or err > rtol:
        raise SystemExit(f"{name}: {what} disagrees with Caffe's formula (relative {err:.3g})")


def sigmoid64(v):
    return 1.0 / (1.0 + np.exp(-v))


configs: list[dict] = []


def add(name, layer_text, x, dy, y, dx, **more):
    configs.append(dict(name=name, layer=layer_text, x=x, dy=dy, y=y, dx=dx, **more))


def layer(type_: str, params: str = "") -> str:
    body = f' {params}' if params else ""
    return f'layer {{ name: "l" type: "{type_}" bottom: "x" top: "y"{body} }}'


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args()

    # Sigmoid: y = 1/(1+e^-x), dx = dy*y*(1-y).
    x = draw(-6, 6); dy = draw(-1, 1)
    y, dx, _ = grad_of(torch.sigmoid, x, dy)
    xd = x.astype(np.float64)
    check("sigmoid", "y", y, sigmoid64(xd)); check("sigmoid", "dx", dx, dy * y * (1 - y))
    add("sigmoid", layer("Sigmoid"), x, dy, y, dx)

    # TanH: dx = dy*(1-y^2).
    x = draw(-3, 3); dy = draw(-1, 1)
    y, dx, _ = grad_of(torch.tanh, x, dy)
    check("tanh", "dx", dx, dy * (1 - y * y))
    add("tanh", layer("TanH"), x, dy, y, dx)

    # ELU: y = x (x>0), alpha(e^x - 1) (x<=0); dx = dy*(y + alpha) for x <= 0.
    for name, alpha in [("elu_default", None), ("elu_alpha_0.5", 0.5), ("elu_alpha_2", 2.0)]:
        a = 1.0 if alpha is None else f32(alpha)
        x = draw(-3, 3, specials=(0.0,)); dy = draw(-1, 1)
        y, dx, _ = grad_of(lambda t: F.elu(t, alpha=a), x, dy)
        xd = x.astype(np.float64)
        check(name, "y", y, np.where(xd > 0, xd, a * np.expm1(xd)))
        check(name, "dx", dx, dy * np.where(xd > 0, 1.0, y + a))
        add(name, layer("ELU", "" if alpha is None else f"elu_param {{ alpha: {alpha} }}"), x, dy, y, dx)

    # AbsVal: dx = sign(x)*dy, sign(0) = 0.
    x = draw(-2, 2, specials=(0.0,)); dy = draw(-1, 1)
    y, dx, _ = grad_of(torch.abs, x, dy)
    check("absval", "dx", dx, np.sign(x.astype(np.float64)) * dy)
    add("absval", layer("AbsVal"), x, dy, y, dx)

    # Power: y = (shift + scale*x)^power.
    power_cases = [
        # name, power, scale, shift, x range
        ("power_default", None, None, None, (-2, 2)),
        ("power_2_scale_1.5_shift_0.5", 2.0, 1.5, 0.5, (-2, 2)),
        ("power_0.5_scale_2_shift_1", 0.5, 2.0, 1.0, (-0.4, 2)),
        ("power_3_scale_0.5", 3.0, 0.5, 0.0, (-2, 2)),
        ("power_-1.5_scale_1_shift_0", -1.5, 1.0, 0.0, (0.3, 2)),
        ("power_1_scale_-2_shift_0.25", 1.0, -2.0, 0.25, (-2, 2)),
        ("power_2.5_scale_0.75_shift_2", 2.5, 0.75, 2.0, (-2, 2)),
        ("power_0_scale_3", 0.0, 3.0, 0.0, (-2, 2)),
        ("power_2_scale_0_shift_3", 2.0, 0.0, 3.0, (-2, 2)),
    ]
    for name, p, s, sh, (lo, hi) in power_cases:
        pp = 1.0 if p is None else f32(p); ss = 1.0 if s is None else f32(s); hh = 0.0 if sh is None else f32(sh)
        x = draw(lo, hi); dy = draw(-1, 1)
        y, dx, _ = grad_of(lambda t: torch.pow(hh + ss * t, pp), x, dy)
        v = hh + ss * x.astype(np.float64)
        check(name, "y", y, v ** pp)
        check(name, "dx", dx, dy * (pp * ss * v ** (pp - 1) if pp != 0 else 0 * v))
        fields = " ".join(f"{k}: {val}" for k, val in [("power", p), ("scale", s), ("shift", sh)] if val is not None)
        add(name, layer("Power", f"power_param {{ {fields} }}" if fields else ""), x, dy, y, dx)

    # Exp: y = base^(shift + scale*x), base -1 = e.
    for name, base, s, sh in [("exp_default", None, None, None), ("exp_base_2_scale_0.5_shift_1", 2.0, 0.5, 1.0),
                              ("exp_scale_-1.5_shift_0.5", None, -1.5, 0.5)]:
        bb = None if base is None else f32(base); ss = 1.0 if s is None else f32(s); hh = 0.0 if sh is None else f32(sh)
        x = draw(-2, 2); dy = draw(-1, 1)
        fn = (lambda t: torch.exp(hh + ss * t)) if bb is None else (lambda t: torch.pow(torch.tensor(bb, dtype=torch.float64), hh + ss * t))
        y, dx, _ = grad_of(fn, x, dy)
        ln = 1.0 if bb is None else np.log(bb)
        check(name, "dx", dx, dy * y * ss * ln)
        fields = " ".join(f"{k}: {val}" for k, val in [("base", base), ("scale", s), ("shift", sh)] if val is not None)
        add(name, layer("Exp", f"exp_param {{ {fields} }}" if fields else ""), x, dy, y, dx)

    # Log: y = log_base(shift + scale*x).
    for name, base, s, sh, (lo, hi) in [("log_default", None, None, None, (0.2, 3)),
                                        ("log_base_10_scale_2_shift_0.5", 10.0, 2.0, 0.5, (0.0, 2)),
                                        ("log_base_2_scale_-1_shift_3", 2.0, -1.0, 3.0, (-2, 2))]:
        bb = None if base is None else f32(base); ss = 1.0 if s is None else f32(s); hh = 0.0 if sh is None else f32(sh)
        x = draw(lo, hi); dy = draw(-1, 1)
        ln = 1.0 if bb is None else np.log(bb)
        y, dx, _ = grad_of(lambda t: torch.log(hh + ss * t) / ln, x, dy)
        check(name, "dx", dx, dy * ss / ((hh + ss * x.astype(np.float64)) * ln))
        fields = " ".join(f"{k}: {val}" for k, val in [("base", base), ("scale", s), ("shift", sh)] if val is not None)
        add(name, layer("Log", f"log_param {{ {fields} }}" if fields else ""), x, dy, y, dx)

    # BNLL: y = log(1 + e^x) (softplus), dx = dy*sigmoid(x); beyond 50 Caffe clamps e^x, which
    # changes sigmoid by < e^-50. Two elements beyond +-50 exercise both branches.
    x = draw(-8, 8, specials=(0.0, 60.0, -60.0)); dy = draw(-1, 1)
    y, dx, _ = grad_of(lambda t: F.softplus(t, beta=1.0, threshold=1000.0), x, dy)
    xd = x.astype(np.float64)
    check("bnll", "y", y, np.logaddexp(xd, 0.0)); check("bnll", "dx", dx, dy * sigmoid64(xd))
    add("bnll", layer("BNLL"), x, dy, y, dx)

    # Threshold: y = [x > t]; no backward in Caffe (no dx stored).
    for name, t in [("threshold_default", None), ("threshold_0.3", 0.3), ("threshold_-0.5", -0.5)]:
        tt = 0.0 if t is None else f32(t)
        x = draw(-1, 1, specials=(tt, 0.0, -0.0))
        y = (torch.tensor(x.astype(np.float64)) > tt).double().numpy()
        check(name, "y", y, (x.astype(np.float64) > tt).astype(np.float64))
        add(name, layer("Threshold", "" if t is None else f"threshold_param {{ threshold: {t} }}"), x, None, y, None)

    # Swish: y = x*sigmoid(beta x); dx = dy*(beta y + s(1 - beta y)).
    for name, beta in [("swish_default", None), ("swish_beta_1.5", 1.5), ("swish_beta_0.25", 0.25)]:
        b = 1.0 if beta is None else f32(beta)
        x = draw(-4, 4); dy = draw(-1, 1)
        fn = F.silu if b == 1.0 else (lambda t: t * torch.sigmoid(b * t))
        y, dx, _ = grad_of(fn, x, dy)
        s = sigmoid64(b * x.astype(np.float64))
        check(name, "dx", dx, dy * (b * y + s * (1 - b * y)))
        add(name, layer("Swish", "" if beta is None else f"swish_param {{ beta: {beta} }}"), x, dy, y, dx)

    # Clip: y = max(min, min(x, max)); dx = dy*[min <= x <= max] (ends included).
    for name, lo, hi in [("clip_-1_1", -1.0, 1.0), ("clip_0_6", 0.0, 6.0), ("clip_-0.25_0.5", -0.25, 0.5)]:
        lo32, hi32 = f32(lo), f32(hi)
        x = draw(lo - 1.5 * (hi - lo) / 2, hi + 1.5 * (hi - lo) / 2, specials=(lo32, hi32, lo32, hi32))
        dy = draw(-1, 1)
        y, dx, _ = grad_of(lambda t: torch.clamp(t, lo32, hi32), x, dy)
        xd = x.astype(np.float64)
        check(name, "y", y, np.maximum(lo32, np.minimum(xd, hi32)))
        check(name, "dx", dx, dy * ((xd >= lo32) & (xd <= hi32)))
        add(name, layer("Clip", f"clip_param {{ min: {lo} max: {hi} }}"), x, dy, y, dx)

    # PReLU: y = max(x,0) + a_c min(x,0); dslope = sum dy*x*[x<=0] per channel.
    prelu_cases = [
        ("prelu_channels", SHAPE, False, [0.25, -0.1, 0.6]),
        ("prelu_shared", SHAPE, True, [0.3]),
        ("prelu_2d", (4, 3), False, [0.5, 0.05, -0.2]),
    ]
    for name, shape, shared, slopes in prelu_cases:
        a = np.array(slopes, dtype=np.float32)
        x = draw(-2, 2, shape=shape, specials=(0.0,)); dy = draw(-1, 1, shape=shape)
        y, dx, (da,) = grad_of(lambda t, w: F.prelu(t, w), x, dy, [a])
        xd = x.astype(np.float64)
        ac = (np.full(shape[1], np.float64(a[0])) if shared else a.astype(np.float64)).reshape((1, shape[1]) + (1,) * (len(shape) - 2))
        check(name, "y", y, np.maximum(xd, 0) + ac * np.minimum(xd, 0))
        check(name, "dx", dx, dy * np.where(xd > 0, 1.0, ac))
        per = (dy * xd * (xd <= 0)).sum(axis=tuple(i for i in range(len(shape)) if i != 1))
        check(name, "dslope", da, np.array([per.sum()]) if shared else per)
        filler = " ".join(f"value: {v}" for v in slopes[:1])
        text = f'prelu_param {{ channel_shared: {"true" if shared else "false"} filler {{ type: "constant" {filler} }} }}'
        add(name, layer("PReLU", text), x, dy, y, dx, slope=a, dslope=da.reshape(-1))

    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "expected.h5"
    # Flat layout (few HDF5 objects, so the file stays close to the size of its numbers):
    # configuration k owns elements offset[k] ..< offset[k+1] of x, dy, y, dx and slope elements
    # slope_offset[k] ..< slope_offset[k+1] of slope, dslope.
    offsets, slope_offsets = [0], [0]
    for c in configs:
        offsets.append(offsets[-1] + c["x"].size)
        slope_offsets.append(slope_offsets[-1] + (c["slope"].size if "slope" in c else 0))
    shapes = np.zeros((len(configs), 4), dtype=np.int64)
    for k, c in enumerate(configs):
        shapes[k, : c["x"].ndim] = c["x"].shape
    cat32 = lambda key: np.concatenate([np.zeros(c["x"].size) if c.get(key) is None else np.asarray(c[key]).reshape(-1) for c in configs]).astype(np.float32)
    cat64 = lambda key: np.concatenate([np.zeros(c["x"].size) if c.get(key) is None else np.asarray(c[key], dtype=np.float64).reshape(-1) for c in configs])
    with h5py.File(path, "w") as f:
        for k, v in provenance_attrs("scripts/reference/make_neuron_reference.py", SEED).items():
            f.attrs[k] = v
        f.create_dataset("configs", data="\n".join(c["name"] for c in configs), dtype=h5py.string_dtype())
        f.create_dataset("layers", data="\n".join(c["layer"] for c in configs), dtype=h5py.string_dtype())
        f.create_dataset("shape", data=shapes)
        f.create_dataset("offset", data=np.array(offsets, dtype=np.int64))
        f.create_dataset("has_backward", data=np.array([c["dx"] is not None for c in configs], dtype=np.int64))
        f.create_dataset("x", data=cat32("x"))
        f.create_dataset("dy", data=cat32("dy"))
        f.create_dataset("y", data=cat64("y"))
        f.create_dataset("dx", data=cat64("dx"))
        f.create_dataset("slope_offset", data=np.array(slope_offsets, dtype=np.int64))
        f.create_dataset("slope", data=np.concatenate([c["slope"] for c in configs if "slope" in c]).astype(np.float32))
        f.create_dataset("dslope", data=np.concatenate([np.asarray(c["dslope"], dtype=np.float64) for c in configs if "slope" in c]))
    print(f"wrote {path} ({path.stat().st_size} bytes, {len(configs)} configurations)")


if __name__ == "__main__":
    main()
