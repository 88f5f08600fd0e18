"""Runs every benchmark and writes benchmarks/RESULTS.md (tables) and benchmarks/results/*.

python -m benchmarks.run_all                        # CPU, full sizes (hours on 2 cores)
python -m benchmarks.run_all --quick                # B=4, N up to 4096 (about an hour)
python -m benchmarks.run_all --device cuda --amp    # a GPU user
python -m benchmarks.run_all --scatter-python VENV/bin/python  # + a venv with torch-scatter
python -m benchmarks.run_all --report-only          # tables and plot from results/*.json
"""

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(HERE, "results")


def run(python, module, args, json_name):
    path = os.path.join(OUT, json_name)
    subprocess.run(
        [python, "-W", "ignore", "-m", f"benchmarks.{module}", *args, "--json", path],
        cwd=ROOT,
        check=True,
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--amp", action="store_true")
    parser.add_argument(
        "--scatter-python", default=None, help="an interpreter whose environment has torch-scatter"
    )
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args(argv)
    os.makedirs(OUT, exist_ok=True)
    device = ["--device", args.device] + (["--amp"] if args.amp else [])
    size = ["--batch-size", "4", "--repeats", "2"] if args.quick else []
    frames = ["--frames", "256", "1024", "4096"] if args.quick else []
    if not args.report_only:
        pythons = [("", sys.executable)]
        if args.scatter_python:
            pythons.append(("_scatter", args.scatter_python))
        for suffix, python in pythons:
            run(python, "throughput", size + device, f"throughput{suffix}.json")
            run(python, "long_video", frames + device, f"long_video{suffix}.json")
        run(sys.executable, "data_loading", [], "data_loading.json")
    report()


def load(name):
    path = os.path.join(OUT, name)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def report():
    from benchmarks import long_video, throughput  # run from the repository root (python -m)

    parts = [
        "# Benchmark results",
        "",
        "Produced by `python -m benchmarks.run_all` "
        "(see its docstring for --quick, --device cuda --amp, --scatter-python).",
        "",
    ]
    for suffix, label in (("", ""), ("_scatter", " (with torch-scatter)")):
        tp = load(f"throughput{suffix}.json")
        if tp:
            parts += [
                f"## Throughput, paper configuration{label}",
                "",
                throughput.format_table(tp),
                "",
            ]
        lv = load(f"long_video{suffix}.json")
        if lv:
            parts += [
                f"## Long videos, B=1, training step: time / peak memory{label}",
                "",
                long_video.format_table(lv),
                "",
                f"![time and memory vs N](results/long_video{suffix}.png)",
                "",
            ]
            plot(lv, os.path.join(OUT, f"long_video{suffix}.png"))
    dl = load("data_loading.json")
    if dl:
        parts += [
            "## Data loading (HDF5, N=16, 2048-d appearance + motion, float16)",
            "",
            "| loader | samples/s |",
            "|---|---|",
        ]
        parts += [f"| {k} | {v['samples_per_s']:.0f} |" for k, v in dl.items()]
    dec = load("decoders.json")
    if dec:
        parts += [
            "",
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
    notes = os.path.join(OUT, "NOTES.md")
    if os.path.exists(notes):
        parts += ["", open(notes).read()]
    with open(os.path.join(HERE, "RESULTS.md"), "w") as f:
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
    main()
