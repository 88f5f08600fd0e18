"""The two multiple-choice modes of ``MSPAN`` side by side: ``mc_query="question"`` (the paper)
and ``"question+candidate"`` (each candidate joined to the question queries the reasoning).

    python -m benchmarks.mc_query [--num-videos 800] [--epochs 8] [--seeds 3]
        [--out runs/mc_query] [--json benchmarks/results/mc_query.jsonl]
    python -m benchmarks.mc_query --step-timing   # one training step of each mode, interleaved

Trains both modes on the built-in NExT-QA, TGIF-QA action and transition and own-questions
(multiple-choice) data with the synthetic preset (K = 4, T = 2, 128-d visual, 64-d module), the
same generated data and seeds for both, and prints test accuracy (mean ± std over seeds) and
seconds per epoch (training and validation). docs/datasets.md holds the measured table.
Epoch times of runs made one after the other on a shared machine are noisy; ``--step-timing``
times one training step of both modes alternately in one process (same model size, batch 32,
N = 16, R = 5), which is the cleaner cost ratio.
"""

import argparse
import json
import os
import statistics
import time

import torch

from mspan_pyg.training.runner import train

#: (dataset, task) of the built-in multiple-choice data
SETS = [("nextqa", "mc"), ("tgif", "action"), ("tgif", "transition"), ("own", "multichoice")]
MODES = ("question", "question+candidate")


def run_one(dataset, task, mode, seed, args):
    out = os.path.join(args.out, f"{dataset}_{task}", f"{mode}_seed{seed}")
    config = dict(
        dataset=dataset,
        task=task,
        mc_query=mode,
        seed=seed,
        epochs=args.epochs,
        num_videos=args.num_videos,
        synthetic_dir=os.path.join(args.out, f"{dataset}_{task}", "data"),
        out=out,
        overwrite=True,
        progress=False,
    )
    metrics = train(config)
    with open(os.path.join(out, "log.jsonl")) as f:
        times = [json.loads(line)["time_s"] for line in f if line.strip()]
    return dict(
        dataset=dataset,
        task=task,
        mode=mode,
        seed=seed,
        accuracy=metrics["test"]["accuracy"],
        epoch_s=statistics.mean(times),
    )


def table(rows):
    lines = [
        "| data | mode | test accuracy (mean ± std) | per seed | s / epoch |",
        "|---|---|---|---|---|",
    ]
    for dataset, task in SETS:
        for mode in MODES:
            sel = [r for r in rows if (r["dataset"], r["task"], r["mode"]) == (dataset, task, mode)]
            if not sel:
                continue
            acc = [r["accuracy"] for r in sel]
            std = statistics.stdev(acc) if len(acc) > 1 else 0.0
            lines.append(
                f"| {dataset} {task} | {mode} | {statistics.mean(acc):.3f} ± {std:.3f} | "
                f"{', '.join(f'{a:.3f}' for a in acc)} | "
                f"{statistics.mean(r['epoch_s'] for r in sel):.1f} |"
            )
    return "\n".join(lines)


def step_timing(repeats: int = 5, batch: int = 32, candidates: int = 5) -> dict:
    """Seconds per training step (forward + backward) of both modes, interleaved."""
    from mspan_pyg import MSPAN
    from mspan_pyg.training.config import SYNTHETIC

    gen = torch.Generator().manual_seed(0)
    inputs = dict(
        appearance=torch.randn(batch, 16, 64, generator=gen),
        motion=torch.randn(batch, 16, 32, generator=gen),
        question=torch.randint(1, 100, (batch, 12), generator=gen),
        question_len=torch.full((batch,), 12),
        candidates=torch.randint(1, 100, (batch, candidates, 4), generator=gen),
        candidates_len=torch.full((batch, candidates), 4),
    )
    answer = torch.zeros(batch, dtype=torch.long)
    keys = ("visual_dim", "module_dim", "word_dim", "num_scales", "num_iterations")
    models = {
        mode: MSPAN(
            100,
            task="multichoice",
            appearance_dim=64,
            motion_dim=32,
            mc_query=mode,
            question_layers=SYNTHETIC["question_layers"],
            **{k: SYNTHETIC[k] for k in keys},
        )  # fmt: skip
        for mode in MODES
    }
    times = {mode: [] for mode in MODES}
    for _ in range(repeats + 1):  # the first round warms up
        for mode, model in models.items():
            start = time.perf_counter()
            model.loss(model(**inputs), answer).backward()
            times[mode].append(time.perf_counter() - start)
    result = {mode: statistics.median(t[1:]) for mode, t in times.items()}
    result["ratio"] = result["question+candidate"] / result["question"]
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-videos", type=int, default=600)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds first-seed, +1, ...")
    parser.add_argument("--sets", default=None, help="comma-separated dataset:task (default all)")
    parser.add_argument("--out", default="runs/mc_query")
    parser.add_argument("--json", default=None, help="append each run's result here")
    parser.add_argument("--step-timing", action="store_true", help="only time a training step")
    args = parser.parse_args(argv)
    if args.step_timing:
        r = step_timing()
        print(
            f"s / training step (batch 32, R = 5, {torch.get_num_threads()} threads): "
            f"question {r['question']:.3f}, question+candidate {r['question+candidate']:.3f} "
            f"({r['ratio']:.1f}x)"
        )
        return
    sets = SETS if not args.sets else [tuple(s.split(":")) for s in args.sets.split(",")]
    rows, start = [], time.time()
    for dataset, task in sets:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            for mode in MODES:
                rows.append(run_one(dataset, task, mode, seed, args))
                print(json.dumps(rows[-1]), flush=True)
                if args.json:
                    with open(args.json, "a") as f:
                        f.write(json.dumps(rows[-1]) + "\n")
    print(
        f"\n{args.num_videos} videos per set, {args.epochs} epochs, {args.seeds} seeds, "
        f"{torch.get_num_threads()} threads, {time.time() - start:.0f} s\n"
    )
    print(table(rows))


if __name__ == "__main__":
    main()
