"""Customer-prediction AutoML pipeline: a thin entry per DVC stage on top (python -m pipeline.<stage>), a package per concept."""
import os

# Same params, same bytes on any x86-64 machine: torch and MKL otherwise pick AVX-512 or AVX2 kernels by CPU, whose
# float sums differ in the last bits, and a few epochs of SGD turn that into another encoder (dvc.lock's hashes then
# fail on the next machine). Read when torch first computes, so set before it is imported; a user's own value wins.
os.environ.setdefault("ATEN_CPU_CAPABILITY", "avx2")
os.environ.setdefault("MKL_CBWR", "COMPATIBLE")
os.environ.setdefault("ONEDNN_MAX_CPU_ISA", "AVX2")
