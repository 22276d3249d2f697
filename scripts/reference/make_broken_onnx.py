#!/usr/bin/env python3
"""Malformed ONNX models for the broken-input corpus: Fixtures/broken/onnx/<case>/model.onnx and
expected.json ({"contains": [...], "why": ...}: the one error line must contain each string).

Every case starts from one small valid model (built with onnx.helper, checked by
onnx.checker): input 2x3x8x8 -> Conv 3->4 k3 p1 -> Relu -> GlobalAveragePool -> Flatten -> Gemm
(4 -> 10, transB=1), opset 17; then breaks one thing. `valid` is the unbroken model (it must
import). Run from the repository root: /tmp/venv-torch/bin/python scripts/reference/make_broken_onnx.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

REPO_ROOT = Path(__file__).resolve().parents[2]
OUT = REPO_ROOT / "Fixtures" / "broken" / "onnx"
SEED = 5


def base_nodes():
    return [
        helper.make_node("Conv", ["x", "conv.weight", "conv.bias"], ["c"], name="/conv/Conv",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1]),
        helper.make_node("Relu", ["c"], ["r"], name="/relu/Relu"),
        helper.make_node("GlobalAveragePool", ["r"], ["p"], name="/pool/GlobalAveragePool"),
        helper.make_node("Flatten", ["p"], ["f"], name="/Flatten", axis=1),
        helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["y"], name="/fc/Gemm", transB=1),
    ]


def base_inits():
    rng = np.random.default_rng(SEED)
    return [
        numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "conv.weight"),
        numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "conv.bias"),
        numpy_helper.from_array(rng.standard_normal((10, 4)).astype(np.float32), "fc.weight"),
        numpy_helper.from_array(rng.standard_normal(10).astype(np.float32), "fc.bias"),
    ]


def model(nodes=None, inits=None, input_shape=(2, 3, 8, 8), check=True):
    g = helper.make_graph(nodes if nodes is not None else base_nodes(), "tiny",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(input_shape))],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [input_shape[0], 10])],
                          inits if inits is not None else base_inits())
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], producer_name="initdiag-tests")
    if check:
        onnx.checker.check_model(m)
    return m


def write(name, data, contains, why):
    d = OUT / name
    d.mkdir(parents=True, exist_ok=True)
    (d / "model.onnx").write_bytes(data if isinstance(data, bytes) else data.SerializeToString())
    (d / "expected.json").write_text(json.dumps({"contains": contains, "why": why}, indent=1) + "\n")


def cli_cases():
    """case.json for every case folder: the same refusal through the command line."""
    for d in sorted(p for p in OUT.iterdir() if (p / "expected.json").exists()):
        e = json.loads((d / "expected.json").read_text())
        case = {
            "args": ["probe", "--net", "{case}/model.onnx", "--data", "synthetic", "--threads", "1"],
            "exit": 0 if d.name == "valid" else 2,
            "stderr": None,
            "stderr_contains": [c.replace("model.onnx", "{case}/model.onnx") for c in e["contains"]],
            "why": "ONNX through the CLI: " + e["why"],
        }
        (d / "case.json").write_text(json.dumps(case, indent=2, ensure_ascii=False) + "\n")


def main():
    valid = model()
    write("valid", valid, [], "the unbroken model: imports")
    raw = valid.SerializeToString()
    write("truncated", raw[: len(raw) // 2], ["model.onnx", "not a valid ONNX model", "truncated"],
          "the second half of the file is missing")
    write("not_onnx", b"name: \"a prototxt\"\nlayer { }\n", ["model.onnx", "not a valid ONNX model"],
          "a text file given as ONNX")

    nodes = base_nodes()
    nodes[0].attribute[0].CopyFrom(helper.make_attribute("kernel_shape", [3.0, 3.0]))
    write("wrong_attribute_type", model(nodes, check=False), ["model.onnx", "node '/conv/Conv' (op Conv)", "kernel_shape"],
          "kernel_shape given as floats")

    inits = base_inits()
    inits[0] = helper.make_tensor("conv.weight", TensorProto.STRING, [1], [b"w"])
    write("wrong_initializer_type", model(inits=inits, check=False), ["model.onnx", "conv.weight", "data type 8"],
          "the conv weight is a string tensor")

    nodes = base_nodes()
    nodes[1] = helper.make_node("Relu", ["c2"], ["r"], name="/relu/Relu")
    nodes.insert(2, helper.make_node("Relu", ["r"], ["c2"], name="/relu2/Relu"))
    write("cycle", model(nodes, check=False), ["model.onnx", "node '/relu/Relu'", "cycle"],
          "two Relu nodes read each other's output")

    inits = [i for i in base_inits() if i.name != "conv.weight"]
    write("missing_initializer", model(inits=inits, check=False), ["model.onnx", "node '/conv/Conv' (op Conv)", "conv.weight"],
          "the conv weight initializer is absent")

    nodes = base_nodes()
    nodes[1] = helper.make_node("Relu", ["c", "c"], ["r"], name="/relu/Relu")
    write("wrong_arity", model(nodes, check=False), ["model.onnx", "node '/relu/Relu' (op Relu)", "takes 1 input, got 2"],
          "Relu with two inputs")

    write("huge_input_shape", model(input_shape=(2, 3, 1 << 40, 8), check=False),
          ["model.onnx", "input 'x'", "1099511627776"], "the input declares 2^40 rows")

    inits = base_inits()
    inits[2] = TensorProto(name="fc.weight", data_type=TensorProto.FLOAT, dims=[1 << 20, 1 << 20])
    write("huge_initializer_shape", model(inits=inits, check=False), ["model.onnx", "fc.weight", "more than"],
          "an initializer declares 2^40 values and holds none")

    inits = base_inits()
    inits[2] = TensorProto(name="fc.weight", data_type=TensorProto.FLOAT, dims=[10, 4],
                           raw_data=np.zeros(3, np.float32).tobytes())
    write("initializer_short", model(inits=inits, check=False), ["model.onnx", "fc.weight", "holds 3"],
          "an initializer holds fewer values than its shape")

    nodes = base_nodes()
    nodes[1] = helper.make_node("Softplus", ["c"], ["r"], name="/act/Softplus")
    write("unsupported_op", model(nodes), ["model.onnx", "node '/act/Softplus' (op Softplus)", "not supported"],
          "an op initdiag has no layer for")

    nodes = base_nodes()
    nodes[0] = helper.make_node("Conv", ["x", "conv.weight", "conv.bias"], ["c"], name="/conv/Conv",
                                kernel_shape=[3, 3], pads=[0, 0, 1, 1], strides=[1, 1])
    write("asymmetric_pads", model(nodes), ["model.onnx", "node '/conv/Conv' (op Conv)", "asymmetric pads [0, 0, 1, 1]"],
          "Conv pads differ between begin and end")

    nodes = base_nodes()
    nodes[4] = helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["y"], name="/fc/Gemm", transB=1, alpha=2.0)
    write("gemm_alpha", model(nodes), ["model.onnx", "node '/fc/Gemm' (op Gemm)", "alpha 2.0"],
          "Gemm with alpha 2")

    m = model()
    m.opset_import[0].version = 7
    write("old_opset", m, ["model.onnx", "opset 7"], "an opset older than the importer supports")
    cli_cases()
    print(f"wrote {len(list(OUT.iterdir()))} cases into {OUT}")


if __name__ == "__main__":
    import sys
    if "--cli-cases-only" in sys.argv:
        cli_cases()
    else:
        main()
