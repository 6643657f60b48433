"""Throughput (sequences/s, forward + backward) of the recurrent model, oneDNN on vs off, CPU and CUDA.

Cases:
  plain_lstm  an nn.LSTM on a dense [batch, length, input] tensor (no packing, no head);
  model_step  one SequenceClassifier training step (batch gather, embedding, packed RNN, MLP,
              class-weighted loss, clipping, AdamW), at full length and at lengths uniform in 1..length.
On CPU each case runs with oneDNN enabled and inside torch.backends.mkldnn.flags(enabled=False);
with CUDA present they also run at batch 1024 under AMP. Not a test: numbers depend on the machine
and on other processes competing for it, so run it a few times and keep the best.

    python bench/bench_lstm.py --threads 2 --out reports/bench_lstm.json
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import platform
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from pipeline.events.sequences import SequenceBatch
from pipeline.models.sequence.classifier import SequenceClassifier
from pipeline.models.sequence.runtime import amp_dtype, autocast

log = logging.getLogger(__name__)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--cuda-batch", type=int, default=1024)
    parser.add_argument("--length", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--input", type=int, default=16,
                        help="RNN input size (model_step: embedding input-3 + 3 value channels)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", type=Path, default=None, help="also write the results as JSON here")
    return parser.parse_args(argv)


def onednn(enabled: bool) -> contextlib.AbstractContextManager:
    """oneDNN on (torch's default) or off for the block; flags() warns about an unrelated TF32 setting."""
    stack = contextlib.ExitStack()
    stack.enter_context(warnings.catch_warnings())
    warnings.filterwarnings("ignore", message=".*TF32 acceleration on top of oneDNN.*")
    stack.enter_context(torch.backends.mkldnn.flags(enabled=enabled))
    return stack


def throughput(step: Callable[[], None], batch: int, repeats: int, device: torch.device) -> dict[str, float]:
    """Best and median sequences/s over `repeats` timed calls after two warm-up calls."""
    seconds = []
    for i in range(repeats + 2):
        start = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize()  # kernels run asynchronously: time their completion
        if i >= 2:
            seconds.append(time.perf_counter() - start)
    return {"best_seq_per_s": batch / min(seconds), "median_seq_per_s": batch / statistics.median(seconds)}


def plain_lstm_step(args: argparse.Namespace, batch: int, device: torch.device) -> Callable[[], None]:
    """Forward + backward of a bare nn.LSTM on a dense batch (autocast on CUDA)."""
    torch.manual_seed(0)
    lstm = nn.LSTM(args.input, args.hidden, batch_first=True).to(device)
    x = torch.randn(batch, args.length, args.input, device=device)

    def step() -> None:
        lstm.zero_grad(set_to_none=True)
        with autocast(device):
            out, _ = lstm(x)
        out.float().sum().backward()
    return step


def model_step(args: argparse.Namespace, batch: int, device: torch.device, full: bool) -> Callable[[], None]:
    """One real SequenceClassifier training step (the same code fit runs per batch)."""
    rng = np.random.default_rng(0)
    lengths = np.full(batch, args.length) if full else rng.integers(1, args.length + 1, batch)
    types = np.where(np.arange(args.length)[None, :] < lengths[:, None], rng.integers(2, 20, (batch, args.length)), 0)
    data = SequenceBatch(types, rng.normal(size=(batch, args.length, 3)), lengths, static=rng.normal(size=(batch, 8)))
    y = (np.arange(batch) % 5 == 0).astype(np.int64)
    clf = SequenceClassifier(hidden_size=args.hidden, embedding_dim=args.input - 3, max_len=args.length,
                             batch_size=batch, device=str(device))
    clf.n_types_, clf.n_channels_, clf.n_static_ = data.n_types, 3, 8
    torch.manual_seed(0)
    clf.module_ = clf._new_module().to(device)
    tensors = clf._tensors(data)
    optimizer = torch.optim.AdamW(clf.module_.parameters(), lr=clf.lr, weight_decay=clf.weight_decay)
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=torch.tensor(4.0, device=device))
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype(device) == torch.float16)
    targets, order = torch.from_numpy(y.astype(np.float32)), np.arange(batch)
    return lambda: clf._train_epoch(tensors, targets, order, optimizer, loss_fn, scaler, device)


def cases(args: argparse.Namespace) -> list[tuple[str, str, int, torch.device, Callable[[], None]]]:
    """(case, backend, batch, device, step) for every combination this machine can run."""
    cpu = torch.device("cpu")
    out = []
    # Backends alternate case by case so drifting load from other processes hits both alike.
    for case, make in (("plain_lstm", lambda: plain_lstm_step(args, args.batch, cpu)),
                       ("model_step_full_len", lambda: model_step(args, args.batch, cpu, True)),
                       ("model_step_var_len", lambda: model_step(args, args.batch, cpu, False))):
        for backend in ("onednn", "no_onednn"):
            out.append((case, backend, args.batch, cpu, make()))
    if torch.cuda.is_available():
        gpu = torch.device("cuda")
        name = f"cuda_amp_{amp_dtype(gpu)}".replace("torch.", "")
        for batch in (args.batch, args.cuda_batch):
            out.append(("plain_lstm", name, batch, gpu, plain_lstm_step(args, batch, gpu)))
            out.append(("model_step_var_len", name, batch, gpu, model_step(args, batch, gpu, False)))
    return out


def run(args: argparse.Namespace) -> dict:
    """Time every case; returns the machine description and one row per case."""
    torch.set_num_threads(args.threads)
    rows = []
    for case, backend, batch, device, step in cases(args):
        context = onednn(backend == "onednn") if device.type == "cpu" else contextlib.nullcontext()
        with context:
            rows.append({"case": case, "backend": backend, "device": device.type, "batch": batch,
                         **throughput(step, batch, args.repeats, device)})
    machine = {"torch": torch.__version__, "threads": args.threads, "cpu": platform.processor() or platform.machine(),
               "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
               "length": args.length, "hidden": args.hidden, "input": args.input}
    return {"machine": machine, "results": rows}


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse_args(argv)
    report = run(args)
    log.info("%s", report["machine"])
    log.info("%-22s %-20s %6s %6s %12s %12s", "case", "backend", "device", "batch", "best seq/s", "median seq/s")
    for r in report["results"]:
        log.info("%-22s %-20s %6s %6d %12.0f %12.0f", r["case"], r["backend"], r["device"], r["batch"],
                 r["best_seq_per_s"], r["median_seq_per_s"])
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
