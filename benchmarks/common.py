"""Shared pieces of the benchmarks: the paper configuration, inputs, timers, FLOP counts."""

import argparse
import contextlib
import json
import time
from typing import Callable, Dict, List, Optional

import torch

from mspan_pyg import MSPAN

PAPER = dict(
    appearance_dim=2048,
    motion_dim=2048,
    visual_dim=2048,
    module_dim=512,
    word_dim=300,
    num_scales=8,
    num_iterations=3,
)
VOCAB, ANSWERS, QUESTION_LEN = 4000, 1000, 12


def add_device_args(parser: argparse.ArgumentParser):
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--amp", action="store_true", help="bf16 autocast")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")


def setup(args) -> torch.device:
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    return torch.device(args.device)


def autocast(args):
    if not args.amp:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(args.device).type, dtype=torch.bfloat16)


def make_model(device, **overrides) -> MSPAN:
    config = dict(PAPER, task="open", num_answers=ANSWERS)
    config.update(overrides)
    return MSPAN(VOCAB, **config).to(device)


def make_inputs(batch_size: int, num_frames: int, device) -> Dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return (
        dict(
            appearance=torch.randn(batch_size, num_frames, PAPER["appearance_dim"], generator=g),
            motion=torch.randn(batch_size, num_frames, PAPER["motion_dim"], generator=g),
            question=torch.randint(2, VOCAB, (batch_size, QUESTION_LEN), generator=g),
            question_len=torch.full((batch_size,), QUESTION_LEN),
            answer=torch.randint(0, ANSWERS, (batch_size,), generator=g),
        )
        if device is None
        else {k: v.to(device) for k, v in make_inputs(batch_size, num_frames, None).items()}
    )


def sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def train_step_fn(net, model: MSPAN, inputs, args) -> Callable[[], None]:
    """One Adam step of ``net`` (MSPAN or DenseMSPAN sharing ``model``'s parameters)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step():
        model.train()
        optimizer.zero_grad(set_to_none=True)
        with autocast(args):
            out = net(
                inputs["appearance"], inputs["motion"], inputs["question"], inputs["question_len"]
            )
            loss = model.loss(out.float(), inputs["answer"])
        loss.backward()
        optimizer.step()

    return step


def inference_fn(net, model: MSPAN, inputs, args) -> Callable[[], None]:
    def run():
        model.eval()
        with torch.no_grad(), autocast(args):
            net(inputs["appearance"], inputs["motion"], inputs["question"], inputs["question_len"])

    return run


def interleaved_times(
    fns: Dict[str, Callable[[], None]], repeats: int, warmup: int, device
) -> Dict[str, List[float]]:
    """Runs the candidates alternately (so load changes hit all alike); seconds per run."""
    times: Dict[str, List[float]] = {name: [] for name in fns}
    for r in range(warmup + repeats):
        for name, fn in fns.items():
            sync(device)
            start = time.perf_counter()
            fn()
            sync(device)
            if r >= warmup:
                times[name].append(time.perf_counter() - start)
    return times


def count_flops(fn: Callable[[], None]) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def matmul_peak(device, dtype=torch.float32, size: int = 4096, repeats: int = 5) -> float:
    """FLOP/s of a large square ``torch.mm`` (the best of ``repeats``)."""
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    best = float("inf")
    for _ in range(repeats + 1):
        sync(device)
        start = time.perf_counter()
        torch.mm(a, b)
        sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def write_json(path: Optional[str], payload):
    if path:
        with open(path, "w") as f:
            json.dump(payload, f, indent=2)
