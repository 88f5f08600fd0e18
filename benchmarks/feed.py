"""Does the loader feed the model? Samples/s of the model at the paper configuration and of the
library's loader delivering batches of the same shapes on the same device, in one run.

    python -m benchmarks.run_all --device cuda --amp      # the GPU session (runs this)
    python -m benchmarks.feed --device cuda               # this part alone
    python -m benchmarks.feed --device cpu --small        # CI: small shapes, end to end

Model: training (Adam step) and inference samples/s for each ``--batch-sizes``, with the fused
CSR kernels and with PyG's message passing and scatter softmax (``CrossScaleAttention.fused =
False``), in fp32 and under bf16 autocast. Loader: ``make_loader`` over a page-cached float16 file
larger than the in-memory threshold (one question per video, shuffled), batches moved to the
device with ``device_batches`` (prefetch on; float16 and float32 batches). Writes a JSON and a
markdown table; exits with status 1 when the loader is slower than the fastest training
configuration of a batch size (the loader would bound the GPU).
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

import torch

from benchmarks.common import (
    ANSWERS,
    PAPER,
    QUESTION_LEN,
    VOCAB,
    interleaved_times,
    sync,
    write_json,
)
from mspan_pyg import MSPAN, CrossScaleAttention
from mspan_pyg.data import FeatureStore, make_loader
from mspan_pyg.training.prefetch import device_batches

#: --small: a model and file small enough for a CI run on CPU (seconds)
SMALL = dict(
    appearance_dim=64,
    motion_dim=64,
    visual_dim=64,
    module_dim=32,
    word_dim=16,
    num_scales=4,
    num_iterations=1,
)


def model_rates(config, batch_size, frames, device, repeats, warmup):
    """{(mode, kernels, precision): samples/s} for one batch size."""
    torch.manual_seed(0)
    model = MSPAN(VOCAB, task="open", num_answers=ANSWERS, dropout=0.0, **config).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    g = torch.Generator().manual_seed(0)
    inputs = dict(
        appearance=torch.randn(batch_size, frames, config["appearance_dim"], generator=g),
        motion=torch.randn(batch_size, frames, config["motion_dim"], generator=g),
        question=torch.randint(2, VOCAB, (batch_size, QUESTION_LEN), generator=g),
        question_len=torch.full((batch_size,), QUESTION_LEN),
        answer=torch.randint(0, ANSWERS, (batch_size,), generator=g),
    )
    inputs = {k: v.to(device) for k, v in inputs.items()}
    attention = [m for m in model.modules() if isinstance(m, CrossScaleAttention)]

    def run(mode, fused, bf16):
        def fn():
            for m in attention:
                m.fused = fused
            args = (inputs["appearance"], inputs["motion"], inputs["question"])
            autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)
            if mode == "train":
                model.train()
                optimizer.zero_grad(set_to_none=True)
                with autocast:
                    y = model(*args, inputs["question_len"])
                model.loss(y.float(), inputs["answer"]).backward()
                optimizer.step()
            else:
                model.eval()
                with torch.no_grad(), autocast:
                    model(*args, inputs["question_len"])

        return fn

    fns = {
        (mode, kernels, precision): run(mode, kernels == "fused", precision == "bf16")
        for mode in ("train", "inference")
        for kernels in ("fused", "scatter")
        for precision in ("fp32", "bf16")
    }
    times = interleaved_times(fns, repeats, warmup, device)
    return {key: batch_size / statistics.median(t) for key, t in times.items()}


def loader_rates(path, batch_size, device, epochs=2):
    """{batch dtype: samples/s} of the library loader delivering batches on ``device``."""
    from benchmarks.data_loading import dataset, records_for

    out = {}
    for dtype in (torch.float16, torch.float32):
        store = FeatureStore(path, check_finite=False, dtype=dtype)
        ds = dataset(store, records_for(len(store)), dtype, pin_memory=device.type == "cuda")
        loader = make_loader(ds, batch_size, shuffle=True, pin_memory=device.type == "cuda")
        for _ in device_batches(loader, device, prefetch=True):  # warm-up epoch
            pass
        sync(device)
        start, samples = time.perf_counter(), 0
        for _ in range(epochs):
            for batch in device_batches(loader, device, prefetch=True):
                samples += batch["appearance"].shape[0]
        sync(device)
        out[str(dtype).replace("torch.", "")] = samples / (time.perf_counter() - start)
        store.close()
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--small", action="store_true", help="small shapes (CI on CPU)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument(
        "--videos", type=int, default=None, help="default 9000 (1.1 GiB); small 256"
    )
    parser.add_argument("--repeats", type=int, default=None, help="default 5; small 1")
    parser.add_argument("--dir", default=None, help="where the feature file goes")
    parser.add_argument("--json", default=None)
    parser.add_argument("--table", default=None, help="also write the markdown table here")
    args = parser.parse_args(argv)
    from benchmarks.data_loading import write_features

    device = torch.device(args.device)
    config = dict(SMALL if args.small else PAPER)
    videos = args.videos or (256 if args.small else 9000)
    repeats = args.repeats or (1 if args.small else 5)
    result = dict(
        device=str(device),
        name=torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        small=args.small,
        config=config,
        frames=args.frames,
        videos=videos,
        torch_threads=torch.get_num_threads(),
        batches={},
    )
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = os.path.join(tmp, "features.h5")
        write_features(path, videos, args.frames, config["appearance_dim"])
        result["file_bytes"] = os.path.getsize(path)
        for b in args.batch_sizes:
            model = model_rates(config, b, args.frames, device, repeats, warmup=1)
            loader = loader_rates(path, b, device)
            best = max(v for (mode, *_), v in model.items() if mode == "train")
            result["batches"][str(b)] = dict(
                model={"/".join(k): v for k, v in model.items()},
                loader=loader,
                fastest_training=best,
                loader_feeds_model=min(loader.values()) >= best,
            )
    table = format_table(result)
    print(table)
    write_json(args.json, result)
    if args.table:
        with open(args.table, "w") as f:
            f.write(table + "\n")
    ok = all(r["loader_feeds_model"] for r in result["batches"].values())
    if not ok:
        print("the loader is slower than the model: it would bound training", file=sys.stderr)
    return 0 if ok else 1


def format_table(r):
    shapes = "small shapes (CI)" if r["small"] else "paper configuration"
    lines = [
        f"{shapes}, N={r['frames']}, device {r['device']} ({r['name']}), "
        f"torch threads {r['torch_threads']}; loader: {r['videos']} videos, "
        f"{r['file_bytes'] / 2**30:.2f} GiB float16 file, prefetch on",
        "",
        "| B | mode | kernels | precision | samples/s |",
        "|---|---|---|---|---|",
    ]
    for b, rec in r["batches"].items():
        for key, v in rec["model"].items():
            mode, kernels, precision = key.split("/")
            lines.append(f"| {b} | {mode} | {kernels} | {precision} | {v:,.1f} |")
        for dtype, v in rec["loader"].items():
            lines.append(f"| {b} | **loader** | | {dtype} batches | {v:,.1f} |")
        verdict = "feeds" if rec["loader_feeds_model"] else "DOES NOT feed"
        slowest = min(rec["loader"].values())
        lines.append(
            f"| {b} | **loader / fastest training** | | | "
            f"**{slowest / rec['fastest_training']:,.1f}× ({verdict} the model)** |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
