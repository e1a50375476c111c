#!/usr/bin/env python3
"""Race every way to run GLPDepth on this CPU, interleaved in one run (docs/PERFORMANCE.md):

  /usr/bin/python3 bench/race_backends.py --glpdepth build/glpdepth [--glpdepth build-torch2/glpdepth]
      [--rounds 3] [--json out.json]

Contenders (each skipped with a line when its runtime is not installed):
  glpdepth libtorch fp32 / bf16, glpdepth openvino fp32 / bf16 (`glpdepth bench --backend ...`)
    of the first --glpdepth; further --glpdepth builds race their libtorch fp32
  openvino standalone fp32 / bf16 on the ONNX file glpdepth exports (.venv-openvino)
  onnxruntime fp32 on the same file (.venv, scripts/make-venv.sh)
  the reference in PyTorch fp32 (Debian's torch and the .venv's) and bf16 autocast (.venv's)

Every case (encoder x batch) runs each contender once per round, in turn, for --rounds rounds,
so that a slow minute of the machine hits all of them; the table gives each contender's best
round median, the spread of its round medians (max/min - 1), its time relative to the reference
fp32 and its output's relative L2 distance to glpdepth libtorch fp32 (same weights, same input).
"""
import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RUNTIME_BENCH = os.path.join(HERE, "reference", "runtime_bench.py")


def cpu_description():
    model, flags = "", set()
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name") and not model:
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    wanted = ["avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8"]
    return model, [f for f in wanted if f in flags]


def python_with(python, module):
    if not python or not os.path.exists(python):
        return None
    ok = subprocess.run([python, "-c", f"import {module}"], stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL).returncode == 0
    return python if ok else None


def libtorch_version(glpdepth):
    info = subprocess.run([glpdepth, "info"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    found = [line.split()[1] for line in info.stdout.splitlines() if line.startswith("LibTorch ")]
    return found[0] if found else "?"


def contenders(args):
    """(name, precision, kind, spec) for every runtime found here."""
    found = []
    for i, binary in enumerate(args.glpdepth):
        version = libtorch_version(binary)
        for backend in ["libtorch", "openvino"] if i == 0 else ["libtorch"]:
            for precision in ["fp32", "bf16"] if i == 0 else ["fp32"]:
                name = f"glpdepth {backend}" + (f" ({version})" if backend == "libtorch" else "")
                found.append((name, precision, "glpdepth", (binary, backend)))
    ov = python_with(os.path.join(ROOT, ".venv-openvino/bin/python"), "openvino")
    ort = python_with(os.path.join(ROOT, ".venv/bin/python"), "onnxruntime")
    venv_torch = python_with(os.path.join(ROOT, ".venv/bin/python"), "torch")
    debian_torch = python_with("/usr/bin/python3", "torch")
    for python, name, runtime, precisions in [
            (ov, "openvino standalone", "openvino", ["fp32", "bf16"]),
            (ort, "onnxruntime", "onnxruntime", ["fp32"]),
            (debian_torch, "reference (Debian torch)", "reference", ["fp32"]),
            (venv_torch, "reference (pip torch)", "reference", ["fp32", "bf16"])]:
        if python is None:
            print(f"race: {name}: not installed here, left out", file=sys.stderr)
            continue
        for precision in precisions:
            found.append((name, precision, "python", (python, runtime)))
    return found


def run_one(args, kind, spec, files, encoder, batch, precision, out):
    common = ["--batch_size", str(batch), "--height", str(args.height), "--width", str(args.width),
              "--iters", str(args.iters), "--warmup", str(args.warmup), "--threads", str(args.threads)]
    if kind == "glpdepth":
        binary, backend = spec
        json_path = out + ".json"
        command = [binary, "bench", "--ckpt", files["pth"], "--backend", backend,
                   "--precision", precision, "--save_output", out, "--json", json_path] + common
        result = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if result.returncode != 0:
            return None, result.stderr.strip().splitlines()[-1]
        with open(json_path) as f:
            return json.load(f)["median_s"], None
    python, runtime = spec
    model = files["pth"] if runtime == "reference" else files["onnx"]
    command = [python, RUNTIME_BENCH, runtime, "--model", model, "--encoder", encoder,
               "--precision", precision, "--save_output", out] + common
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if result.returncode != 0:
        return None, (result.stderr.strip().splitlines() or ["failed"])[-1]
    return json.loads(result.stdout.strip().splitlines()[-1])["median_s"], None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--glpdepth", action="append", default=[],
                        help="glpdepth binaries (the first runs every backend; default build/glpdepth)")
    parser.add_argument("--encoders", default="b0,b4")
    parser.add_argument("--batches", default="1,4")
    parser.add_argument("--height", type=int, default=352)
    parser.add_argument("--width", type=int, default=1216)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--only", default="", help="comma-separated name substrings to keep")
    parser.add_argument("--json", help="write every round's medians to this file")
    args = parser.parse_args()
    args.glpdepth = args.glpdepth or [os.path.join(ROOT, "build/glpdepth")]

    model_name, flags = cpu_description()
    print(f"race: {model_name}, {os.cpu_count()} cores, flags {' '.join(flags)}; {args.threads} threads, "
          f"{args.height}x{args.width}, {args.rounds} rounds x {args.iters} iterations (+{args.warmup} warm-up), "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", flush=True)
    runners = contenders(args)
    if args.only:
        keep = args.only.split(",")
        runners = [r for r in runners if any(k in f"{r[0]} {r[1]}" for k in keep)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for encoder in args.encoders.split(","):
            files = {"pth": os.path.join(tmp, f"{encoder}.pth"), "onnx": os.path.join(tmp, f"{encoder}.onnx")}
            subprocess.run([args.glpdepth[0], "export", "--random_weights", "--encoder", encoder, "--format",
                            "pytorch", "--output", files["pth"]], check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            subprocess.run([args.glpdepth[0], "export", "--ckpt", files["pth"], "--format", "onnx", "--output",
                            files["onnx"]], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for batch in [int(b) for b in args.batches.split(",")]:
                medians = {i: [] for i in range(len(runners))}
                errors = {}
                outputs = {}
                for _ in range(args.rounds):
                    for i, (name, precision, kind, spec) in enumerate(runners):
                        out = os.path.join(tmp, f"out{i}.npy")
                        median, error = run_one(args, kind, spec, files, encoder, batch, precision, out)
                        if error:
                            errors[i] = error
                            continue
                        medians[i].append(median)
                        if i not in outputs:
                            outputs[i] = np.load(out).astype(np.float64)
                baseline = next((outputs[i] for i, r in enumerate(runners)
                                 if r[0].startswith("glpdepth libtorch") and r[1] == "fp32" and i in outputs), None)
                reference = [min(medians[i]) for i, r in enumerate(runners)
                             if r[0].startswith("reference") and r[1] == "fp32" and medians[i]]
                reference_best = min(reference) if reference else None
                print(f"\nMiT-{encoder} batch {batch} {args.height}x{args.width}:")
                print(f"  {'contender':28s} {'prec':5s} {'best median':>12s} {'spread':>7s} {'vs ref fp32':>11s} {'rel L2':>9s}")
                for i, (name, precision, kind, spec) in enumerate(runners):
                    if not medians[i]:
                        print(f"  {name:28s} {precision:5s} failed: {errors.get(i, '?')}")
                        continue
                    best = min(medians[i])
                    spread = max(medians[i]) / best - 1
                    ratio = best / reference_best if reference_best else float("nan")
                    rel = (float(np.linalg.norm(outputs[i] - baseline) / np.linalg.norm(baseline))
                           if baseline is not None else float("nan"))
                    print(f"  {name:28s} {precision:5s} {best * 1e3:9.1f} ms {spread * 100:6.1f}% {ratio:11.3f} {rel:9.2e}",
                          flush=True)
                    rows.append({"encoder": encoder, "batch": batch, "contender": name, "precision": precision,
                                 "round_medians_s": medians[i], "best_median_s": best, "spread": spread,
                                 "vs_reference_fp32": ratio, "rel_l2_vs_glpdepth_libtorch_fp32": rel})
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cpu": model_name, "flags": flags, "cores": os.cpu_count(), "threads": args.threads,
                       "host": platform.node(), "date": time.strftime("%Y-%m-%d"), "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
