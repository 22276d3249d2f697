#!/usr/bin/env python3
"""Writes a trace's loss curve (and test results) as CSV: iteration,loss,lr[,test_loss,test_accuracy].

Usage: python3 scripts/trace_loss_csv.py TRACE.h5 > loss.csv      (needs h5py)
"""
import sys

import h5py


def main(path):
    with h5py.File(path, "r") as f:
        it = f["/steps/iteration"][:]
        loss = f["/steps/loss"][:]
        lr = f["/steps/lr"][:]
        tests = {}
        if "/test/iteration" in f:
            for i, l, a in zip(f["/test/iteration"][:], f["/test/loss"][:], f["/test/accuracy"][:]):
                tests[int(i)] = (l, a)
        print("iteration,loss,lr,test_loss,test_accuracy")
        for i, l, r in zip(it, loss, lr):
            t = tests.get(int(i))
            extra = f"{t[0]:.6g},{t[1]:.6g}" if t else ","
            print(f"{int(i)},{l:.6g},{r:.6g},{extra}")
        # Tests after the last recorded step (the final test at max_iter).
        for i in sorted(k for k in tests if k > (int(it[-1]) if len(it) else -1)):
            print(f"{i},,,{tests[i][0]:.6g},{tests[i][1]:.6g}")


if __name__ == "__main__":
    main(sys.argv[1])
