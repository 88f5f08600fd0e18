"""Long videos (B=1, paper dims): time and peak memory of a training step vs N, for the
dense formulation and this library (stride 1, clip_stride="scale", gradient checkpointing).

    python benchmarks/long_video.py [--frames 256 1024 4096 16384] [--device cuda --amp]

Every case runs in its own subprocess under an address-space limit (``--max-gib``), one at a
time; peak memory is the child's VmHWM (peak RSS, CPU) or torch.cuda.max_memory_allocated.
A case predicted to exceed the limit (dense memory grows with N^2, the sparse variants with
N, fitted on the smaller N) is skipped instead of run.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

VARIANTS = {
    "dense": dict(dense=True),
    "mspan_pyg": dict(),
    "stride": dict(clip_stride="scale"),
    "checkpoint": dict(gradient_checkpointing=True),
    "stride+checkpoint": dict(clip_stride="scale", gradient_checkpointing=True),
}
GIB = 1024**3


def worker(args):
    import torch

    from benchmarks.common import make_inputs, make_model, setup, sync, train_step_fn
    from mspan_pyg.testing.dense_reference import DenseMSPAN

    device = setup(args)
    options = dict(VARIANTS[args.variant])
    dense = options.pop("dense", False)
    model = make_model(device, dropout=0.0, **options)
    net = DenseMSPAN(model) if dense else model
    inputs = make_inputs(1, args.n, device)
    step = train_step_fn(net, model, inputs, args)
    base = _status("VmRSS") if device.type == "cpu" else torch.cuda.memory_allocated(device)
    sync(device)
    start = time.perf_counter()
    step()
    sync(device)
    seconds = time.perf_counter() - start
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device)
    else:
        peak = _status("VmHWM")
    print(json.dumps(dict(seconds=seconds, peak_bytes=peak, base_bytes=base)))


def _status(field: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(field))


def run_case(args, n: int, variant: str) -> dict:
    command = [
        sys.executable,
        "-m",
        "benchmarks.long_video",
        "--worker",
        "--n",
        str(n),
        "--variant",
        variant,
        "--device",
        args.device,
    ]
    command += ["--amp"] if args.amp else []
    command += ["--threads", str(args.threads)] if args.threads else []
    limit = int((args.max_gib + 6) * GIB)  # address space > RSS (thread stacks, mappings)

    def cap():
        if args.device == "cpu":
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    proc = subprocess.run(
        command,
        capture_output=True,
        text=True,
        preexec_fn=cap,
        timeout=args.timeout,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:]
        return dict(status="failed", error=" ".join(tail)[:200])
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["status"] = "ok"
    return result


def predict_bytes(history, n: int, variant: str):
    """Extrapolates the last measured case: N^2 for dense, N for the sparse variants."""
    done = [(m, r) for m, r in history if r.get("status") == "ok"]
    if not done:
        return None
    m, r = done[-1]
    growth = r["peak_bytes"] - r["base_bytes"]  # what the step itself added
    return r["base_bytes"] + growth * (n / m) ** (2 if variant == "dense" else 1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[256, 1024, 4096, 16384])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument(
        "--max-gib",
        type=float,
        default=18.0,
        help="skip cases predicted above this and cap each child near it",
    )
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per case")
    parser.add_argument("--json", default=None)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    from benchmarks.common import add_device_args, write_json

    add_device_args(parser)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)

    results = {v: [] for v in args.variants}
    for variant in args.variants:
        for n in args.frames:
            predicted = predict_bytes(results[variant], n, variant)
            if predicted is not None and predicted > args.max_gib * GIB:
                r = dict(status="skipped", predicted_gib=predicted / GIB)
            else:
                try:
                    r = run_case(args, n, variant)
                except subprocess.TimeoutExpired:
                    r = dict(status="timeout")
            results[variant].append((n, r))
            print(
                f"N={n:6d} {variant:18s} "
                + (
                    f"{r['seconds']:9.2f} s  {r['peak_bytes'] / GIB:6.2f} GiB"
                    if r["status"] == "ok"
                    else f"{r['status']} {r.get('predicted_gib', '') or r.get('error', '')}"
                ),
                flush=True,
            )
    payload = dict(
        device=args.device,
        amp=args.amp,
        max_gib=args.max_gib,
        results={v: [dict(n=n, **r) for n, r in rs] for v, rs in results.items()},
    )
    print(format_table(payload))
    write_json(args.json, payload)
    return payload


def format_table(payload) -> str:
    variants = list(payload["results"])
    frames = sorted({row["n"] for rows in payload["results"].values() for row in rows})
    lines = ["| N | " + " | ".join(variants) + " |", "|---" * (len(variants) + 1) + "|"]
    for n in frames:
        cells = []
        for v in variants:
            row = next((r for r in payload["results"][v] if r["n"] == n), None)
            if row is None:
                cells.append("")
            elif row["status"] == "ok":
                cells.append(f"{row['seconds']:.1f} s / {row['peak_bytes'] / GIB:.2f} GiB")
            elif row["status"] == "skipped":
                cells.append(f"skipped (~{row['predicted_gib']:.0f} GiB predicted)")
            else:
                cells.append(row["status"])
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
