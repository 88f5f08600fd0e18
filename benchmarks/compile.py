"""Eager vs ``torch.compile`` MSPAN on the same inputs, side by side in one run.

    python benchmarks/compile.py [--batch-size 8] [--repeats 3] [--visual-dim 2048]
        [--module-dim 512] [--dynamic] [--threads 1]

Prints seconds per training step and per inference batch of both, their ratio (eager /
compiled: above 1 means compiling pays), the one-off compile time and the largest
difference of the outputs. Graph construction runs eagerly in both (it is excluded from
compilation in :mod:`mspan_pyg.graphs`); nothing suppresses Dynamo errors.
"""

import argparse
import statistics
import time

import torch

from benchmarks.common import (
    add_device_args,
    inference_fn,
    interleaved_times,
    make_inputs,
    make_model,
    setup,
    sync,
    train_step_fn,
    write_json,
)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--num-frames", type=int, default=16)
    parser.add_argument("--visual-dim", type=int, default=2048)
    parser.add_argument("--module-dim", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dynamic", action="store_true", help="torch.compile(dynamic=True)")
    parser.add_argument("--json", default=None, help="write the results here")
    add_device_args(parser)
    args = parser.parse_args(argv)
    device = setup(args)
    model = make_model(device, dropout=0.0, visual_dim=args.visual_dim, module_dim=args.module_dim)
    compiled = torch.compile(model, dynamic=True if args.dynamic else None)
    inputs = make_inputs(args.batch_size, args.num_frames, device)
    result = dict(
        batch_size=args.batch_size,
        num_frames=args.num_frames,
        visual_dim=args.visual_dim,
        module_dim=args.module_dim,
        dynamic=args.dynamic,
        device=str(device),
        threads=torch.get_num_threads(),
        torch=torch.__version__,
    )
    with torch.no_grad():
        model.eval()
        eager_out = model(
            *[inputs[k] for k in ("appearance", "motion", "question", "question_len")]
        )
    for mode, make in (("train", train_step_fn), ("inference", inference_fn)):
        fns = {
            "eager": make(model, model, inputs, args),
            "compiled": make(compiled, model, inputs, args),
        }
        sync(device)
        start = time.perf_counter()
        fns["compiled"]()  # compiles
        sync(device)
        result[f"{mode}/compile_seconds"] = time.perf_counter() - start
        times = interleaved_times(fns, args.repeats, warmup=1, device=device)
        for name in fns:
            result[f"{mode}/{name}"] = dict(
                seconds=min(times[name]), median=statistics.median(times[name])
            )
        result[f"{mode}/ratio"] = min(times["eager"]) / min(times["compiled"])
    args_in = [inputs[k] for k in ("appearance", "motion", "question", "question_len")]
    with torch.no_grad():  # after the training steps: the same parameters for both
        model.eval()
        eager_out, compiled_out = model(*args_in), compiled(*args_in)
    result["max_abs_difference"] = float((compiled_out - eager_out).abs().max())
    print(format_table(result))
    write_json(args.json, result)
    return result


def format_table(r) -> str:
    lines = [
        f"B={r['batch_size']} N={r['num_frames']} visual_dim={r['visual_dim']} "
        f"module_dim={r['module_dim']} dynamic={r['dynamic']} device={r['device']} "
        f"threads={r['threads']} torch={r['torch']}",
        "",
        "| mode | eager s | compiled s | ratio eager / compiled | compile time s |",
        "|---|---|---|---|---|",
    ]
    for mode in ("train", "inference"):
        lines.append(
            f"| {mode} | {r[f'{mode}/eager']['seconds']:.4f} | "
            f"{r[f'{mode}/compiled']['seconds']:.4f} | **{r[f'{mode}/ratio']:.2f}x** | "
            f"{r[f'{mode}/compile_seconds']:.1f} |"
        )
    lines.append(f"\nlargest |compiled - eager| of the outputs: {r['max_abs_difference']:.2e}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
