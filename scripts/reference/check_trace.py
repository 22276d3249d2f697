#!/usr/bin/env python3
"""Read an initdiag trace (docs/trace-format.md) with h5py and plot one layer's statistic over the iterations.

    check_trace.py TRACE.h5                       list the layers and the run's attributes
    check_trace.py TRACE.h5 LAYER [--stat std] [--side forward|backward] [--svg out.svg]

Prints iteration, loss and the statistic as a table; with --svg also writes a line chart (log
scale on y, plain SVG, no plotting library needed). Demonstrates that a trace is readable by
standard tools while a run is going on (set HDF5_USE_FILE_LOCKING=FALSE if the writer still holds
the file, docs/toolchain.md).
"""

from __future__ import annotations

import argparse
import html
import math
import sys
from pathlib import Path

import h5py
import numpy as np


def svg_chart(xs: np.ndarray, ys: np.ndarray, title: str, y_label: str) -> str:
    width, height, margin = 640, 360, 60
    finite = np.isfinite(ys) & (ys > 0)
    if not finite.any():
        raise ValueError("nothing positive and finite to plot on a log scale")
    log_y = np.log10(ys[finite])
    x_values = xs[finite].astype(float)
    lo, hi = float(log_y.min()), float(log_y.max())
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    x_lo, x_hi = float(x_values.min()), float(x_values.max())
    if x_hi - x_lo < 1e-12:
        x_lo, x_hi = x_lo - 1, x_hi + 1

    def px(x: float) -> float:
        return margin + (x - x_lo) / (x_hi - x_lo) * (width - 2 * margin)

    def py(v: float) -> float:
        return height - margin - (v - lo) / (hi - lo) * (height - 2 * margin)

    points = " ".join(f"{px(x):.1f},{py(v):.1f}" for x, v in zip(x_values, log_y))
    ticks = []
    for decade in range(math.floor(lo), math.ceil(hi) + 1):
        if lo - 1e-9 <= decade <= hi + 1e-9:
            y = py(decade)
            ticks.append(f'<line x1="{margin}" y1="{y:.1f}" x2="{width - margin}" y2="{y:.1f}" stroke="#ddd"/>'
                         f'<text x="{margin - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">1e{decade}</text>')
    return "\n".join([
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="24" text-anchor="middle" font-size="14">{html.escape(title)}</text>',
        *ticks,
        f'<line x1="{margin}" y1="{height - margin}" x2="{width - margin}" y2="{height - margin}" stroke="black"/>',
        f'<line x1="{margin}" y1="{margin}" x2="{margin}" y2="{height - margin}" stroke="black"/>',
        f'<text x="{margin}" y="{height - margin + 18}" font-size="11">{x_lo:g}</text>',
        f'<text x="{width - margin}" y="{height - margin + 18}" text-anchor="end" font-size="11">{x_hi:g}</text>',
        f'<text x="{width / 2}" y="{height - 16}" text-anchor="middle" font-size="12">iteration</text>',
        f'<text x="16" y="{height / 2}" transform="rotate(-90 16 {height / 2})" text-anchor="middle" '
        f'font-size="12">{html.escape(y_label)}</text>',
        f'<polyline points="{points}" fill="none" stroke="#1f77b4" stroke-width="2"/>',
        "</svg>",
    ]) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trace", type=Path)
    parser.add_argument("layer", nargs="?")
    parser.add_argument("--stat", default="std")
    parser.add_argument("--side", choices=["forward", "backward"], default="forward")
    parser.add_argument("--svg", type=Path)
    args = parser.parse_args()

    with h5py.File(args.trace, "r") as f:
        if f.attrs.get("format") != "initdiag-trace":
            print(f"{args.trace}: not an initdiag trace (attribute format = {f.attrs.get('format')!r})", file=sys.stderr)
            return 2
        if args.layer is None:
            for key in ("net_name", "scheme", "status", "seed", "batch_size", "data"):
                print(f"{key}: {f.attrs.get(key)}")
            layers = sorted(f["layers"], key=lambda name: int(f["layers"][name].attrs.get("index", 0)))
            for name in layers:
                group = f["layers"][name]
                print(f"  {group.attrs.get('name', name)} ({group.attrs.get('type', '?')})")
            return 0
        path = f"layers/{args.layer}/{args.side}/{args.stat}"
        if path not in f:
            print(f"{args.trace}: no dataset /{path}", file=sys.stderr)
            return 2
        iterations = f["steps/iteration"][()]
        loss = f["steps/loss"][()]
        values = f[path][()]
    count = min(len(iterations), len(values))
    print(f"{'iteration':>9} {'loss':>12} {args.side + ' ' + args.stat:>16}")
    for i in range(count):
        print(f"{iterations[i]:>9d} {loss[i]:>12.6g} {values[i]:>16.6g}")
    if args.svg:
        args.svg.write_text(svg_chart(iterations[:count], values[:count],
                                      f"{args.layer}: {args.side} {args.stat}", f"{args.stat} (log scale)"))
        print(f"wrote {args.svg}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
