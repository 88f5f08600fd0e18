"""Training and inference throughput at the paper configuration: this library vs the dense
formulation (mspan_pyg/testing/dense_reference.py), measured side by side in one run.

    python benchmarks/throughput.py [--batch-size 64] [--repeats 3] [--device cuda --amp]

Prints samples/s of both, their ratio, FLOPs per sample (FlopCounterMode), the fraction of
the matmul peak measured in the same run (a large torch.mm) and the cost of building the
multi-scale graph relative to a training step.
"""

import argparse
import statistics
import time

import torch

from benchmarks.common import (
    add_device_args,
    count_flops,
    inference_fn,
    interleaved_times,
    make_inputs,
    make_model,
    matmul_peak,
    setup,
    sync,
    train_step_fn,
    write_json,
)
from mspan_pyg.testing.dense_reference import DenseMSPAN


def graph_build_time(model, inputs, repeats: int, device) -> dict:
    """Seconds to pool the clips and batch the edges (``model.build_graph``), and to build
    the normalized GCN adjacency once (it is cached for full-length batches)."""
    with torch.no_grad():
        frames = model.encode_frames(inputs["appearance"], inputs["motion"])
    times = []
    for _ in range(repeats + 1):
        sync(device)
        start = time.perf_counter()
        graph = model.build_graph(frames)
        sync(device)
        times.append(time.perf_counter() - start)
    start = time.perf_counter()
    graph.gcn_adjacency(frames.dtype, cached=False)
    sync(device)
    return dict(graph=min(times[1:]), gcn_adjacency_uncached=time.perf_counter() - start)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--num-frames", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--json", default=None, help="write the results here")
    add_device_args(parser)
    args = parser.parse_args(argv)
    device = setup(args)
    B = args.batch_size

    model = make_model(device, dropout=0.0)
    dense = DenseMSPAN(model)
    inputs = make_inputs(B, args.num_frames, device)

    peak = matmul_peak(device, torch.bfloat16 if args.amp else torch.float32)
    result = dict(
        batch_size=B,
        num_frames=args.num_frames,
        device=str(device),
        amp=args.amp,
        threads=torch.get_num_threads(),
        matmul_peak_gflops=peak / 1e9,
    )
    for mode, make in (("train", train_step_fn), ("inference", inference_fn)):
        fns = {
            "mspan_pyg": make(model, model, inputs, args),
            "dense": make(dense, model, inputs, args),
        }
        flops = {name: count_flops(fn) for name, fn in fns.items()}  # also a warm-up run
        times = interleaved_times(fns, args.repeats, args.warmup, device)
        for name in fns:
            best = min(times[name])
            result[f"{mode}/{name}"] = dict(
                seconds=best,
                median=statistics.median(times[name]),
                samples_per_s=B / best,
                gflop_per_sample=flops[name] / B / 1e9,
                peak_fraction=flops[name] / best / peak,
            )
        result[f"{mode}/ratio"] = min(times["dense"]) / min(times["mspan_pyg"])
    result["graph_build"] = graph_build_time(model, inputs, args.repeats, device)
    result["graph_build_fraction_of_train_step"] = (
        result["graph_build"]["graph"] / result["train/mspan_pyg"]["seconds"]
    )
    print(format_table(result))
    write_json(args.json, result)
    return result


def format_table(r) -> str:
    lines = [
        f"B={r['batch_size']} N={r['num_frames']} device={r['device']} amp={r['amp']} "
        f"threads={r['threads']}; matmul peak {r['matmul_peak_gflops']:.1f} GFLOP/s",
        "",
        "| mode | impl | s/step | samples/s | GFLOP/sample | % of matmul peak |",
        "|---|---|---|---|---|---|",
    ]
    for mode in ("train", "inference"):
        for name in ("mspan_pyg", "dense"):
            x = r[f"{mode}/{name}"]
            lines.append(
                f"| {mode} | {name} | {x['seconds']:.3f} | {x['samples_per_s']:.2f} | "
                f"{x['gflop_per_sample']:.1f} | {100 * x['peak_fraction']:.0f}% |"
            )
        lines.append(
            f"| {mode} | **ratio mspan_pyg / dense** | | **{r[f'{mode}/ratio']:.2f}x** | | |"
        )
    g = r["graph_build"]
    lines += [
        "",
        f"graph build {1000 * g['graph']:.1f} ms = "
        f"{100 * r['graph_build_fraction_of_train_step']:.2f}% of a training step "
        f"(GCN adjacency, built once and cached: {1000 * g['gcn_adjacency_uncached']:.1f} ms)",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
