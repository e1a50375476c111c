#!/usr/bin/env python3
"""Times one runtime on GLPDepth inference, for bench/race_backends.py (one process per runtime,
so that each runs with its own interpreter and nothing else loaded):

  reference    our PyTorch reference of the network (bench/reference/glpdepth_ref.py) on a .pth
               file; --precision bf16 runs it under torch.autocast("cpu", torch.bfloat16)
  onnxruntime  ONNX Runtime on an ONNX file (fp32)
  openvino     OpenVINO on an ONNX file, reshaped to the input shape and compiled for the CPU with
               the precision hint, the latency hint and the thread count: the best settings a user
               has for one stream

The input is the deterministic image of glpdepth bench (same formula). Prints one JSON object:
the timed iterations in seconds and their median; --save_output writes the last output (.npy).
"""
import argparse
import json
import os
import statistics
import sys
import time

import numpy as np


def synthetic_input(batch, height, width):
    b = np.arange(batch, dtype=np.float64).reshape(-1, 1, 1, 1)
    c = np.arange(3, dtype=np.float64).reshape(1, -1, 1, 1)
    y = np.arange(height, dtype=np.float64).reshape(1, 1, -1, 1)
    x = np.arange(width, dtype=np.float64).reshape(1, 1, 1, -1)
    return (0.5 + 0.5 * np.sin(0.05 * x * (c + 1) + 0.07 * y + 0.3 * b + c)).astype(np.float32)


def reference_runner(args, image):
    import torch
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import glpdepth_ref
    torch.set_num_threads(args.threads)
    model = glpdepth_ref.GLPDepth(args.encoder, max_depth=80.0)
    model.load_state_dict(torch.load(args.model, map_location="cpu"), strict=True)
    model.eval()
    x = torch.from_numpy(image)

    def run():
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bf16"):
            return model(x).float().numpy()
    return run, f"torch {torch.__version__}"


def onnxruntime_runner(args, image):
    import onnxruntime as ort
    if args.precision != "fp32":
        raise SystemExit("onnxruntime: only fp32 is raced (its CPU provider has no bf16 hint)")
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return (lambda: session.run(None, {name: image})[0]), f"onnxruntime {ort.__version__}"


def openvino_runner(args, image):
    import openvino as ov
    core = ov.Core()
    model = core.read_model(args.model)
    model.reshape(list(image.shape))
    compiled = core.compile_model(model, "CPU", {
        "INFERENCE_PRECISION_HINT": "f32" if args.precision == "fp32" else "bf16",
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_NUM_THREADS": args.threads,
    })
    request = compiled.create_infer_request()

    def run():
        request.infer({0: image})
        return request.get_output_tensor(0).data.copy()
    return run, f"openvino {ov.__version__}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runtime", choices=["reference", "onnxruntime", "openvino"])
    parser.add_argument("--model", required=True, help=".pth for reference, .onnx otherwise")
    parser.add_argument("--encoder", default="b4")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--batch_size", type=int, default=1)
    parser.add_argument("--height", type=int, default=352)
    parser.add_argument("--width", type=int, default=1216)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--save_output")
    args = parser.parse_args()
    image = synthetic_input(args.batch_size, args.height, args.width)
    run, version = {"reference": reference_runner, "onnxruntime": onnxruntime_runner,
                    "openvino": openvino_runner}[args.runtime](args, image)
    output = None
    for _ in range(args.warmup):
        output = run()
    times = []
    for _ in range(args.iters):
        start = time.perf_counter()
        output = run()
        times.append(time.perf_counter() - start)
    if args.save_output:
        np.save(args.save_output, np.asarray(output, dtype=np.float32))
    print(json.dumps({"runtime": args.runtime, "version": version, "precision": args.precision,
                      "median_s": statistics.median(times), "times_s": times}))


if __name__ == "__main__":
    main()
