#!/usr/bin/env python3
"""Learnability of the built-in synthetic scenes (issue 5): does a GLPDepth trained on generated
frames beat depth predictors that ignore the image content?

  make demo                                       # or scripts/demo.sh build/glpdepth
  /usr/bin/python3 bench/learnability.py demo-output

Reads the demo's data (lists, 16-bit GT PNGs) and its test metrics (metrics.json), and evaluates
two image-blind baselines fitted on the training frames, on the same test frames and pixels
(valid: 1e-3 < gt < 80, whole frame):
  constant  the median training depth everywhere;
  row-mean  for each image row, the mean training depth of that row (captures the ground-plane
            perspective, i.e. everything a model could learn without looking at the image).
AbsRel is averaged per image, as `glpdepth test` does.
"""
import json
import os
import sys

import numpy as np
from PIL import Image


def read_list(root, split):
    with open(os.path.join(root, "lists", split + ".txt")) as f:
        return [line.split()[1] for line in f if line.strip()]


def depth(root, rel):
    return np.asarray(Image.open(root + rel), dtype=np.float64) / 256.0


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "demo-output"
    root = os.path.join(out, "data")
    train = [depth(root, p) for p in read_list(root, "train")]
    test = [depth(root, p) for p in read_list(root, "test")]
    valid = lambda g: (g > 1e-3) & (g < 80.0)

    stack = np.stack(train)
    mask = valid(stack)
    constant = float(np.median(stack[mask]))
    counts = mask.sum(axis=(0, 2))
    sums = np.where(mask, stack, 0).sum(axis=(0, 2))
    row_mean = np.where(counts > 0, sums / np.maximum(counts, 1), constant)

    def abs_rel(predict):
        values = []
        for g in test:
            m = valid(g)
            if m.any():
                p = predict(g)
                values.append(float(np.mean(np.abs(p[m] - g[m]) / g[m])))
        return float(np.mean(values))

    results = {
        "constant_median": abs_rel(lambda g: np.full_like(g, constant)),
        "row_mean": abs_rel(lambda g: np.repeat(row_mean[:, None], g.shape[1], axis=1)),
    }
    metrics_file = os.path.join(out, "test", "demo", "metrics.json")
    if os.path.exists(metrics_file):
        with open(metrics_file) as f:
            results["glpdepth_b0"] = json.load(f)["metrics"]["abs_rel"]
    print(f"test frames: {len(test)}, training frames: {len(train)}")
    for name, value in results.items():
        print(f"  {name:16s} AbsRel {value:.4f}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
