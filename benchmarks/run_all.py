"""Runs every benchmark and writes benchmarks/RESULTS.md (tables) and benchmarks/results/*.

python -m benchmarks.run_all                        # CPU, full sizes (hours on 2 cores)
python -m benchmarks.run_all --quick                # B=4, N up to 4096 (about an hour)
python -m benchmarks.run_all --device cuda --amp    # the GPU session: < 10 minutes, see below
python -m benchmarks.run_all --device cpu --small --out DIR   # CI: the GPU session's steps, small
python -m benchmarks.run_all --scatter-python VENV/bin/python  # + a venv with torch-scatter
python -m benchmarks.run_all --report-only          # tables and plot from results/*.json

With --device cuda (or --small) it runs benchmarks/feed.py (model samples/s at B = 64 and 256,
fused vs scatter kernels, fp32 vs bf16, next to the loader's samples/s on the device),
benchmarks/data_loading.py --device cuda and benchmarks/throughput.py (--small: the first two,
small shapes); --long-video adds the long-video sweep. The exit status is 1 when the loader is
slower than the model (feed.py).
"""

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(HERE, "results")
RESULTS = os.path.join(HERE, "RESULTS.md")


def run(python, module, args, json_name, out=OUT, check=True) -> int:
    path = os.path.join(out, json_name)
    done = subprocess.run(
        [python, "-W", "ignore", "-m", f"benchmarks.{module}", *args, "--json", path],
        cwd=ROOT,
        check=check,
    )
    return done.returncode


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--amp", action="store_true")
    parser.add_argument(
        "--scatter-python", default=None, help="an interpreter whose environment has torch-scatter"
    )
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--small", action="store_true", help="small shapes: CI on CPU")
    parser.add_argument("--long-video", action="store_true", help="with cuda: the N sweep too")
    parser.add_argument("--out", default=OUT, help="results folder (default benchmarks/results)")
    parser.add_argument("--report", default=None, help="RESULTS.md to write (default: ours)")
    args = parser.parse_args(argv)
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    report_path = args.report or (RESULTS if out == OUT else os.path.join(out, "RESULTS.md"))
    device = ["--device", args.device] + (["--amp"] if args.amp else [])
    status = 0
    if not args.report_only and (args.small or args.device != "cpu"):
        status = gpu_session(args, out)
    elif not args.report_only:
        size = ["--batch-size", "4", "--repeats", "2"] if args.quick else []
        frames = ["--frames", "256", "1024", "4096"] if args.quick else []
        pythons = [("", sys.executable)]
        if args.scatter_python:
            pythons.append(("_scatter", args.scatter_python))
        for suffix, python in pythons:
            run(python, "throughput", size + device, f"throughput{suffix}.json", out)
            run(python, "long_video", frames + device, f"long_video{suffix}.json", out)
        run(sys.executable, "data_loading", ["--step", "--rss"], "data_loading.json", out)
    report(out, report_path)
    return status


def gpu_session(args, out) -> int:
    """feed.py (its status: 1 when the loader is slower than the model), data_loading.py on the
    device, throughput.py (not with --small) and, with --long-video, the long-video sweep."""
    py = sys.executable
    dev = ["--device", args.device]
    small = ["--small", "--batch-sizes", "8", "16", "--videos", "64", "--frames", "4"]
    status = run(py, "feed", dev + (small if args.small else []), "feed.json", out, check=False)
    loading = "--videos 128 --frames 4 --dim 64 --rounds 1 --compression-videos 0 --workers 0"
    loading = loading.split()
    run(py, "data_loading", dev + (loading if args.small else []), "data_loading.json", out)
    if not args.small:
        run(py, "throughput", dev + (["--amp"] if args.amp else []), "throughput.json", out)
        if args.long_video:
            run(py, "long_video", dev + (["--amp"] if args.amp else []), "long_video.json", out)
    return status


def load(name, out=OUT):
    path = os.path.join(out, name)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def report(out=OUT, path=RESULTS):
    from benchmarks import data_loading, feed, long_video, throughput  # from the repository root

    parts = [
        "# Benchmark results",
        "",
        "Produced by `python -m benchmarks.run_all` "
        "(see its docstring for --quick, --device cuda --amp, --scatter-python).",
        "",
    ]
    for suffix, label in (("", ""), ("_scatter", " (with torch-scatter)")):
        tp = load(f"throughput{suffix}.json", out)
        if tp:
            parts += [
                f"## Throughput, paper configuration{label}",
                "",
                throughput.format_table(tp),
                "",
            ]
        lv = load(f"long_video{suffix}.json", out)
        if lv:
            parts += [
                f"## Long videos, B=1, training step: time / peak memory{label}",
                "",
                long_video.format_table(lv),
                "",
                f"![time and memory vs N](results/long_video{suffix}.png)",
                "",
            ]
            plot(lv, os.path.join(out, f"long_video{suffix}.png"))
    dl = load("data_loading.json", out)
    if dl:
        parts += [
            "## Data loading against memcpy (issue #18)",
            "",
            "`python -m benchmarks.data_loading --step --rss --json benchmarks/results/"
            "data_loading.json`",
            "",
            data_loading.format_table(dl),
            "",
        ]
    dec = load("decoders.json", out)
    if dec:
        parts += [
            "## Decoders, feature extraction on CPU (`benchmarks/extraction.py --workers 0`)",
            "",
            "| videos, backbones | decoder | videos/s | decoded videos/s |",
            "|---|---|---|---|",
        ]
        for case, by_decoder in dec.items():
            parts += [
                f"| {case} | {d} | {r['videos_per_s']:.2f} | {r['decode_videos_per_s']:.2f} |"
                for d, r in by_decoder.items()
            ]
        parts += [""]
    fd = load("feed.json", out)
    if fd:
        parts += [
            "## Does the loader feed the model? (benchmarks/feed.py)",
            "",
            feed.format_table(fd),
            "",
        ]
    notes = os.path.join(out, "NOTES.md")
    if os.path.exists(notes):
        parts += ["", open(notes).read()]
    with open(path, "w") as f:
        f.write("\n".join(parts) + "\n")


def plot(payload, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(10, 4))
    for variant, rows in payload["results"].items():
        ok = [r for r in rows if r["status"] == "ok"]
        if ok:
            ax_t.plot([r["n"] for r in ok], [r["seconds"] for r in ok], "o-", label=variant)
            ax_m.plot(
                [r["n"] for r in ok], [r["peak_bytes"] / 1024**3 for r in ok], "o-", label=variant
            )
    for ax, label in ((ax_t, "seconds per training step"), (ax_m, "peak memory (GiB)")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("frames N (B=1)")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
    ax_m.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
