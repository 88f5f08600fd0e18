"""The data path against the memory: samples/s of the library's loader and of the in-memory
store, as ratios of a memcpy of the same bytes, side by side in one run (paper shapes: N = 16
frames, 2048-d appearance and motion, float16 file, batch 64, shuffled).

    python -m benchmarks.data_loading                       # 1.1 GiB file: over the 1 GiB threshold
    python -m benchmarks.data_loading --step --rss          # + loader share of a training step, RSS
    python -m benchmarks.data_loading --device cuda         # batches delivered on the GPU

Every candidate reads the same shuffled batches; the rounds alternate between candidates so
that load changes hit all alike, and the median round is reported. ``memcpy`` copies the same
rows of the same float16 bytes from memory into a reused buffer (``numpy.take``): the limit.
"""

import argparse
import copy
import os
import statistics
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np
import torch

from mspan_pyg.data import (
    AnswerVocabulary,
    FeatureStore,
    QARecord,
    VideoQADataset,
    Vocabulary,
    collate,
    make_loader,
)
from mspan_pyg.data.features import create_features
from mspan_pyg.training.prefetch import device_batches

#: targets of issue #18, as fractions of the memcpy rate
TARGETS = {"loader": 0.40, "in-memory": 0.60}
STEP_SHARE_TARGET = 0.02


def write_features(path, videos, frames, dim, compression=None, relu=False, block=256):
    """A feature file in the writers' layout (chunked by video), float16, written in blocks."""
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        for name in ("appearance", "motion"):
            d = create_features(f, name, (videos, frames, dim), "float16", compression)
            for start in range(0, videos, block):
                x = rng.standard_normal((min(block, videos - start), frames, dim), np.float32)
                d[start : start + len(x)] = np.maximum(x, 0) if relu else x
        f.create_dataset("ids", data=np.arange(videos, dtype=np.int64))


def records_for(videos):
    return [
        QARecord(
            video_id=v,
            question=f"what is in video {v % 50} ?",
            answer=f"a{v % 10}",
            candidates=None,
            qtype="what",
            key=v,
        )
        for v in range(videos)
    ]


def dataset(store, records, features_dtype=torch.float32, pin_memory=False):
    vocab = Vocabulary.from_records(records)
    answers = AnswerVocabulary.build(records)
    return VideoQADataset(
        records,
        vocab,
        answers,
        store,
        "open",
        features_dtype=features_dtype,
        pin_memory=pin_memory,
    )


def epoch_of(loader, device, prefetch):
    """Samples delivered by one pass (on ``device``, synchronised at the end)."""
    samples = 0
    for batch in device_batches(loader, device, prefetch=prefetch, features_dtype=None):
        samples += batch["appearance"].shape[0]
    if device.type == "cuda":
        torch.cuda.synchronize()
    return samples


def measure(path, args, device, rounds):
    """{candidate: samples/s} of every candidate on the same shuffled batches."""
    videos = h5py.File(path, "r")["ids"].shape[0]
    records = records_for(videos)
    pin = device.type == "cuda"
    stream = FeatureStore(path, check_finite=False)
    stream16 = FeatureStore(path, check_finite=False, dtype=torch.float16)
    memory = FeatureStore(path, check_finite=False, in_memory=True)
    mem16 = copy.copy(memory)  # the same arrays in memory, float16 batches
    mem16.dtype = torch.float16
    order = torch.randperm(videos, generator=torch.Generator().manual_seed(0)).numpy()
    batches = [order[i : i + args.batch_size] for i in range(0, videos, args.batch_size)]
    source = memory._memory  # the same float16 arrays the in-memory store gathers from
    buffers = {
        name: np.empty((args.batch_size,) + a.shape[1:], a.dtype) for name, a in source.items()
    }

    def memcpy():
        for rows in batches:
            for name, a in source.items():
                np.take(a, rows, axis=0, out=buffers[name][: len(rows)])
        return videos

    def loader(store, workers=0, prefetch=False, features_dtype=torch.float32):
        ds = dataset(store, records, features_dtype, pin_memory=pin and workers == 0)
        dl = make_loader(
            ds, args.batch_size, shuffle=True, num_workers=workers, pin_memory=pin, seed=0
        )
        return lambda: epoch_of(dl, device, prefetch)

    def worker_processes(workers):  # what loader_workers avoids for plain copies
        ds = dataset(stream, records)
        dl = torch.utils.data.DataLoader(
            ds,
            batch_size=args.batch_size,
            shuffle=True,
            num_workers=workers,
            collate_fn=collate,
            persistent_workers=True,
            generator=torch.Generator().manual_seed(0),
        )
        return lambda: epoch_of(dl, device, False)

    candidates = {"memcpy (the limit)": memcpy}
    for workers in args.workers:
        candidates[f"loader, {workers} workers"] = loader(stream, workers)
    for workers in args.workers:
        if workers:
            candidates[f"DataLoader forced to {workers} worker processes"] = worker_processes(
                workers
            )
    candidates["loader, prefetch thread"] = loader(stream, prefetch=True)
    candidates["loader, float16 batches"] = loader(stream16, features_dtype=torch.float16)
    candidates["in-memory store"] = loader(memory)
    candidates["in-memory store, float16 batches"] = loader(mem16, features_dtype=torch.float16)
    for fn in candidates.values():  # warm up: page cache, workers, allocator
        fn()
    rates = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, fn in candidates.items():
            start = time.perf_counter()
            samples = fn()
            rates[name].append(samples / (time.perf_counter() - start))
    return {name: statistics.median(r) for name, r in rates.items()}


def compression_cost(tmp, args):
    """samples/s of FeatureStore.get on a smaller file written with each compression
    (features passed through a ReLU, as CNN features are: half the values are zeros)."""
    out = {}
    for compression in ("none", "lzf", "gzip"):
        path = os.path.join(tmp, f"c-{compression}.h5")
        write_features(path, args.compression_videos, args.frames, args.dim, compression, True)
        store = FeatureStore(path, check_finite=False)
        order = np.random.default_rng(0).permutation(args.compression_videos)
        store.get(order[: args.batch_size])
        start = time.perf_counter()
        for i in range(0, len(order), args.batch_size):
            store.get(order[i : i + args.batch_size])
        out[compression] = dict(
            samples_per_s=len(order) / (time.perf_counter() - start),
            bytes_per_video=os.path.getsize(path) / args.compression_videos,
        )
        if compression != "none":  # decompression is work that worker processes share
            ds = dataset(store, records_for(args.compression_videos))
            out[compression]["loader"] = {}
            for workers in args.workers:
                dl = make_loader(ds, args.batch_size, shuffle=True, num_workers=workers)
                epoch_of(dl, torch.device("cpu"), False)  # warm-up (starts the workers)
                start = time.perf_counter()
                samples = epoch_of(dl, torch.device("cpu"), False)
                out[compression]["loader"][str(workers)] = samples / (time.perf_counter() - start)
                del dl
        store.close()
        os.remove(path)
    return out


def step_seconds(args):
    """Seconds of one training step at the paper configuration (B = --batch-size), CPU."""
    from benchmarks.common import make_inputs, make_model, train_step_fn

    model = make_model(torch.device("cpu"), dropout=0.0)
    inputs = make_inputs(args.batch_size, args.frames, torch.device("cpu"))
    step = train_step_fn(model, model, inputs, argparse.Namespace(amp=False, device="cpu"))
    step()  # warm-up
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


RSS_CHILD = """
import sys, torch
from mspan_pyg.data import make_loader
from mspan_pyg.training.config import RunConfig
from mspan_pyg.training.runner import open_features
from benchmarks.data_loading import dataset, records_for
def hwm():  # this process's peak resident memory (VmHWM: per address space, unlike ru_maxrss,
    # which a child started by fork + exec inherits from its parent)
    line = [x for x in open("/proc/self/status") if x.startswith("VmHWM")][0]
    return int(line.split()[1]) * 1024
path, limit, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
base = hwm()
store = open_features(RunConfig.from_dict({"features": path}), in_memory_limit=limit)
ds = dataset(store, records_for(len(store)))
samples = sum(b["appearance"].shape[0] for b in make_loader(ds, batch, shuffle=True))
print(store._memory is not None, samples, base, hwm())
"""


def peak_rss(path, limit, batch_size):
    """(in memory?, samples, RSS after imports, peak RSS) of one epoch in a fresh process that
    opens ``path`` as the runner does, with the in-memory threshold set to ``limit`` bytes."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run(
        [sys.executable, "-c", RSS_CHILD, path, str(limit), str(batch_size)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=root,
    ).stdout.split()
    return out[0] == "True", int(out[1]), int(out[2]), int(out[3])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=9000, help="9000: a 1.1 GiB file")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--compression-videos", type=int, default=1000, help="0: skip")
    parser.add_argument("--step", action="store_true", help="time a paper training step (CPU)")
    parser.add_argument("--rss", action="store_true", help="peak RSS, file = 2x the threshold")
    parser.add_argument("--dir", default=None, help="where the file goes (default: a temp dir)")
    parser.add_argument(
        "--compression-only", action="store_true", help="only the compressed-file read cost"
    )
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    from benchmarks.common import write_json

    device = torch.device(args.device)
    if args.compression_only:
        with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
            result = dict(compression=compression_cost(tmp, args), videos=args.compression_videos)
        print("\n".join(format_compression(result["compression"])))
        write_json(args.json, result)
        return result
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = os.path.join(tmp, "features.h5")
        write_features(path, args.videos, args.frames, args.dim)
        size = os.path.getsize(path)
        rates = measure(path, args, device, args.rounds)
        result = dict(
            videos=args.videos,
            file_bytes=size,
            batch_size=args.batch_size,
            frames=args.frames,
            dim=args.dim,
            device=str(device),
            torch_threads=torch.get_num_threads(),
            samples_per_s=rates,
        )
        if args.compression_videos:
            result["compression"] = compression_cost(tmp, args)
        if args.rss:  # the file is twice the threshold; then, for contrast, half of it
            result["rss"] = []
            for limit in (size // 2, size * 2):
                in_memory, samples, base, peak = peak_rss(path, limit, args.batch_size)
                result["rss"].append(
                    dict(
                        threshold_bytes=limit,
                        in_memory=in_memory,
                        samples=samples,
                        rss_after_imports=base,
                        peak_rss=peak,
                    )
                )
    if args.step:
        result["step_seconds"] = step_seconds(args)
    print(format_table(result))
    write_json(args.json, result)
    return result


def format_table(r):
    rates = r["samples_per_s"]
    limit = rates["memcpy (the limit)"]
    lines = [
        f"{r['videos']} videos, {r['file_bytes'] / 2**30:.2f} GiB float16 file (page-cached), "
        f"N={r['frames']}, {r['dim']}-d appearance + motion, batch {r['batch_size']}, shuffled, "
        f"device {r['device']}, torch threads {r['torch_threads']}",
        "",
        "| path | samples/s | × memcpy |",
        "|---|---|---|",
    ]
    lines += [f"| {name} | {rate:,.0f} | {rate / limit:.2f} |" for name, rate in rates.items()]
    lines.append("")
    loader = rates["loader, 0 workers"]
    memory = rates["in-memory store"]
    checks = [
        ("library loader (streaming, float32 batches)", loader / limit, TARGETS["loader"]),
        ("in-memory store (float32 batches)", memory / limit, TARGETS["in-memory"]),
    ]
    # --features-dtype auto takes float16 batches for a float16 file on CUDA (the GPU converts)
    for label, rate, target in (
        ("library loader", "loader, float16 batches", "loader"),
        ("in-memory store", "in-memory store, float16 batches", "in-memory"),
    ):
        if rate in rates:
            label = f"{label}, float16 batches (the CUDA default)"
            checks.append((label, rates[rate] / limit, TARGETS[target]))
    for label, value, target in checks:
        verdict = "met" if value >= target else "NOT met"
        lines.append(f"- {label}: {value:.0%} of memcpy (target ≥ {target:.0%}: {verdict})")
    workers = [k for k in rates if k.startswith("loader, ") and "workers" in k]  # make_loader
    if len(workers) > 1:
        slowest = min(rates[k] for k in workers if not k.startswith("loader, 0 "))
        each = ", ".join(f"{k.split(', ')[1]}: {rates[k]:,.0f}" for k in workers)
        lines.append(
            f"- workers: the slowest setting is {slowest / loader:.2f}× of 0 workers ({each})"
        )
    if "step_seconds" in r:
        per_batch = r["batch_size"] / loader
        share = per_batch / (per_batch + r["step_seconds"])
        verdict = "met" if share <= STEP_SHARE_TARGET else "NOT met"
        lines.append(
            f"- loader's share of a paper training step (CPU, B={r['batch_size']}): "
            f"{per_batch * 1e3:.2f} ms of {r['step_seconds']:.2f} s = {share:.3%} "
            f"(target ≤ {STEP_SHARE_TARGET:.0%}: {verdict})"
        )
    for m in r.get("rss", []):
        how = "in memory" if m["in_memory"] else "streamed"
        above = (m["peak_rss"] - m["rss_after_imports"]) / 2**20
        lines.append(
            f"- memory, one epoch in a fresh process opening the file as the runner does, "
            f"in-memory threshold {m['threshold_bytes'] / 2**30:.2f} GiB ({how}): peak RSS "
            f"{m['peak_rss'] / 2**20:,.0f} MiB, {above:,.0f} MiB above the RSS after imports"
        )
    if "compression" in r:
        lines += format_compression(r["compression"])
    return "\n".join(lines)


def format_compression(c):
    none = c["none"]["samples_per_s"]
    lines = [
        "- compression (FeatureStore.get, ReLU'd synthetic features): "
        + "; ".join(
            f"{k}: {v['samples_per_s']:,.0f} samples/s ({v['samples_per_s'] / none:.2f}×), "
            f"{v['bytes_per_video'] / 1024:.0f} KiB/video"
            for k, v in c.items()
        )
    ]
    for k, v in c.items():
        if v.get("loader"):
            each = ", ".join(f"{w} workers {rate:,.0f}" for w, rate in v["loader"].items())
            lines.append(f"- {k} file through make_loader: {each} samples/s")
    return lines


if __name__ == "__main__":
    main()
