"""Customer-prediction AutoML pipeline: a thin entry per DVC stage on top (python -m pipeline.<stage>), a package per concept."""
import os

# Same params, same bytes on any x86-64 machine: torch, MKL and numpy otherwise pick AVX-512 or AVX2 kernels by CPU,
# whose float sums and log1p/exp/sin differ in the last bits (numpy's AVX-512 build uses SVML), and a few epochs of
# SGD turn that into another encoder (dvc.lock's hashes then fail on the next machine). Read when torch first
# computes and when numpy is imported, so set before either; a user's own value wins.
os.environ.setdefault("ATEN_CPU_CAPABILITY", "avx2")
os.environ.setdefault("MKL_CBWR", "COMPATIBLE")
os.environ.setdefault("ONEDNN_MAX_CPU_ISA", "AVX2")
os.environ.setdefault("NPY_DISABLE_CPU_FEATURES", "X86_V4 AVX512_ICL AVX512_SPR")   # numpy: AVX2 kernels at most
