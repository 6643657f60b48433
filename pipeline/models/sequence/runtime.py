"""Where and how the sequence model computes: device choice, mixed precision, CPU threads/backend."""
from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

import torch

# oneDNN on CPU (torch's default) or off. It was reported ~10x slower for small LSTMs; measured
# here (bench/bench_lstm.py, torch 2.13, 2 threads) it is not: torch only uses oneDNN for an LSTM
# batch whose sequences all have the same length, and that step ran 2-3x FASTER with it (~6.5k vs
# ~2.5k seq/s); variable-length LSTM, GRU and RNN batches run the same kernels either way.
CPU_ONEDNN = True


def resolve_device(device: str) -> torch.device:
    """'auto' -> CUDA when available, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was asked for but torch sees no CUDA device; use 'auto' or 'cpu'.")
    return resolved


def amp_dtype(device: torch.device) -> torch.dtype | None:
    """Autocast dtype: float16 on CUDA, None (full precision) on CPU.

    Not bfloat16: autocast runs cuDNN RNNs in float16 whatever dtype it is given
    (aten/src/ATen/cudnn/AutocastRNN.cpp), so the recurrent gradients need loss scaling anyway.
    """
    return torch.float16 if device.type == "cuda" else None


def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    dtype = amp_dtype(device)
    return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)


@contextlib.contextmanager
def compute_settings(device: torch.device, num_threads: int | None) -> Iterator[None]:
    """Thread count (only if given) and the CPU RNN backend for one fit/predict; restored afterwards."""
    old_threads = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    try:
        if device.type == "cpu" and not CPU_ONEDNN:
            # flags() also resets an Intel-GPU-only TF32 option and warns about it: irrelevant here.
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*TF32 acceleration on top of oneDNN.*")
                with torch.backends.mkldnn.flags(enabled=False):
                    yield
        else:
            yield
    finally:
        torch.set_num_threads(old_threads)
