"""Runs an ONNX model in ONNX Runtime (CPU) on float32 .npy inputs and saves its first output.

usage: run_onnx_model.py MODEL.onnx INPUT.npy OUTPUT.npy [INPUT.npy OUTPUT.npy ...]

Used by tests/deploy and tests/cli to compare exported models with glpdepth's own outputs; the
comparison itself happens in C++. Prints which onnxruntime ran.
"""
import sys

import numpy as np
import onnxruntime


def main():
    model, pairs = sys.argv[1], sys.argv[2:]
    if not pairs or len(pairs) % 2:
        sys.exit(__doc__)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 2  # the test machines have two cores
    session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    for source, target in zip(pairs[0::2], pairs[1::2]):
        image = np.load(source)
        np.save(target, np.ascontiguousarray(session.run(None, {input_name: image})[0], np.float32))
    print(f"onnxruntime {onnxruntime.__version__} ({onnxruntime.__file__}), "
          f"{session.get_providers()[0]}")


if __name__ == "__main__":
    main()
