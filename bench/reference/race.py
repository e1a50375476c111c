#!/usr/bin/env python3
"""Race glpdepth (C++) against our Python/PyTorch reference of the same network, in one run, on
the same machine, inputs, weights and thread count.

  /usr/bin/python3 bench/reference/race.py --glpdepth build/glpdepth --threads 2

For each case it: exports fresh weights with `glpdepth export` (C++ writes a PyTorch file),
loads them into the reference with load_state_dict(strict=True), runs `glpdepth bench` (which
writes its output and timings), runs the reference on the identical synthetic input, checks the
outputs agree (relative L2 error < 1e-4 in float32) and prints the time ratio C++ / Python.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import glpdepth_ref  # noqa: E402

CASES = {
    # name: (encoder, mode, batch, height, width)
    "b4-infer-352x1216": ("b4", "infer", 1, 352, 1216),
    "b4-flip-352x1216": ("b4", "flip", 1, 352, 1216),
    "b0-train-352x704-b2": ("b0", "train", 2, 352, 704),
    "b0-infer-352x1216": ("b0", "infer", 1, 352, 1216),
    "b0-smoke-64x96": ("b0", "flip", 2, 64, 96),  # quick check that outputs agree
}


def silog(pred, gt, lam=0.5):
    mask = gt > 0
    d = torch.log(gt[mask]) - torch.log(pred[mask].clamp_min(1e-6))
    return torch.sqrt(torch.clamp_min((d ** 2).mean() - lam * d.mean() ** 2, 0) + 1e-12)


def time_reference(model, mode, x, iters, warmup, device):
    target = torch.full((x.shape[0], 1, x.shape[2], x.shape[3]), 20.0, device=device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4) if mode == "train" else None
    model.train(mode == "train")
    out = None

    def step():
        nonlocal out
        if mode == "train":
            opt.zero_grad()
            silog(model(x), target).backward()
            opt.step()
        else:
            with torch.no_grad():
                if mode == "flip":
                    both = model(torch.cat([x, x.flip(3)], 0))
                    b = x.shape[0]
                    out = 0.5 * (both[:b] + both[b:].flip(3))
                else:
                    out = model(x)

    for _ in range(warmup):
        step()
    times = []
    for _ in range(iters):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return times, out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--glpdepth", default="build/glpdepth", help="the glpdepth binary")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--cases", default=",".join(c for c in CASES if "smoke" not in c), help="comma-separated: " + ", ".join(CASES))
    parser.add_argument("--json", help="write all results to this file")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.cases.split(","):
            encoder, mode, batch, height, width = CASES[name]
            weights = os.path.join(tmp, f"{encoder}.pth")
            if not os.path.exists(weights):
                subprocess.run([args.glpdepth, "export", "--random_weights", "--encoder", encoder, "--format", "pytorch",
                                "--output", weights], check=True, stdout=subprocess.DEVNULL)
            cpp_json, cpp_out = os.path.join(tmp, "cpp.json"), os.path.join(tmp, "cpp.npy")
            command = [args.glpdepth, "bench", "--ckpt", weights, "--mode", mode,
                       "--batch_size", str(batch), "--height", str(height), "--width", str(width),
                       "--iters", str(args.iters), "--warmup", str(args.warmup),
                       "--threads", str(args.threads), "--device", args.device, "--json", cpp_json]
            if mode != "train":
                command += ["--save_output", cpp_out]
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            cpp = json.load(open(cpp_json))

            model = glpdepth_ref.GLPDepth(encoder, max_depth=80.0)
            state = torch.load(weights, map_location="cpu")
            model.load_state_dict(state, strict=True)
            model.to(device)
            x = glpdepth_ref.synthetic_input(batch, height, width).to(device)
            py_times, py_out = time_reference(model, mode, x, args.iters, args.warmup, device)
            py_median = statistics.median(py_times)

            rel_err = None
            if py_out is not None:
                ours = torch.from_numpy(np.load(cpp_out))
                ref = py_out.float().cpu()
                rel_err = float(torch.linalg.norm(ours - ref) / torch.linalg.norm(ref))
            row = {"case": name, "cpp_median_s": cpp["median_s"], "py_median_s": py_median,
                   "ratio": cpp["median_s"] / py_median, "rel_l2_error": rel_err,
                   "cpp_peak_rss_mib": cpp["peak_rss_mib"], "threads": args.threads}
            results.append(row)
            err = "n/a (train)" if rel_err is None else f"{rel_err:.2e}"
            print(f"{name:24s} C++ {cpp['median_s'] * 1e3:9.1f} ms   Python {py_median * 1e3:9.1f} ms"
                  f"   ratio {row['ratio']:.3f}   rel. L2 error {err}   C++ peak RSS {cpp['peak_rss_mib']:.0f} MiB",
                  flush=True)
            if rel_err is not None and rel_err >= 1e-4:
                print(f"  MISMATCH: relative L2 error {rel_err:.2e} >= 1e-4", file=sys.stderr)
                sys.exit(1)
    summary = {"machine": platform.node(), "cpu_count": os.cpu_count(), "torch": torch.__version__,
               "date": time.strftime("%Y-%m-%d"), "results": results}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=2)


if __name__ == "__main__":
    main()
