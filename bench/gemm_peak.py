"""This CPU's float32 and int8 matrix-product rates on one thread: what bounds the encoder's speed.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python bench/gemm_peak.py

numpy float32 GEMM (1024^3), and onnxruntime MatMul (float32) and MatMulInteger (u8 x s8) at one encoder
layer's feed-forward shape (512 tokens x 384 x 1536); per CPU-second, so other load on the machine matters less.
"""

from __future__ import annotations

import time

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper


def gemm_fp32(n: int = 1024, reps: int = 10) -> float:
    a = np.random.rand(n, n).astype(np.float32)
    b = np.random.rand(n, n).astype(np.float32)
    a @ b
    c0 = time.process_time()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.process_time() - c0) / 1e9


def ort_matmul(kind: str, m: int = 512, k: int = 384, n: int = 1536, reps: int = 50) -> float:
    rng = np.random.default_rng(0)
    if kind == "fp32":
        node = helper.make_node("MatMul", ["x", "W"], ["y"])
        inits = [numpy_helper.from_array(rng.standard_normal((k, n)).astype(np.float32), "W")]
        xt, yt, x = TensorProto.FLOAT, TensorProto.FLOAT, rng.standard_normal((m, k)).astype(np.float32)
    else:
        node = helper.make_node("MatMulInteger", ["x", "W", "xz"], ["y"])
        inits = [numpy_helper.from_array(rng.integers(-127, 127, (k, n)).astype(np.int8), "W"),
                 numpy_helper.from_array(np.array(128, np.uint8), "xz")]
        xt, yt, x = TensorProto.UINT8, TensorProto.INT32, rng.integers(0, 255, (m, k)).astype(np.uint8)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", xt, [m, k])],
                              [helper.make_tensor_value_info("y", yt, [m, n])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    session.run(None, {"x": x})
    c0 = time.process_time()
    for _ in range(reps):
        session.run(None, {"x": x})
    return 2 * m * k * n * reps / (time.process_time() - c0) / 1e9


if __name__ == "__main__":
    print(f"numpy float32 GEMM 1024^3: {gemm_fp32():.1f} GFLOP/s per CPU-second")
    print(f"onnxruntime MatMul float32 512x384x1536: {max(ort_matmul('fp32') for _ in range(3)):.1f} GFLOP/s")
    print(f"onnxruntime MatMulInteger u8s8 512x384x1536: {max(ort_matmul('int8') for _ in range(3)):.1f} GOP/s")
