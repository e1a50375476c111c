"""onnx.checker.check_model(full_check=True) on each model given (full_check adds strict shape
inference). Exits non-zero with the checker's message on the first model it rejects.

usage: check_onnx_models.py MODEL.onnx [MODEL.onnx ...]
"""
import sys

import onnx


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for path in sys.argv[1:]:
        onnx.checker.check_model(onnx.load(path), full_check=True)
    print(f"onnx {onnx.__version__} ({onnx.__file__}): check_model(full_check=True) accepted "
          f"{len(sys.argv) - 1} models")


if __name__ == "__main__":
    main()
