"""``mspan-pyg extract-features``, ``merge-features`` and ``answer`` (the ``video`` extra).

    mspan-pyg extract-features VIDEOS --out feats.h5 --appearance-weights resnet152.pth \
        --motion-weights resnext-101-kinetics.pth [--device cuda --half] [--shard I/N]
    mspan-pyg merge-features --out feats.h5 feats.shard0of2.h5 feats.shard1of2.h5
    mspan-pyg answer runs/tgif_frameqa/best.pt --video my.mp4 --question "what color is it ?"

:func:`add_subcommands` registers them on the main parser; :data:`COMMANDS` maps each to
its handler.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Dict

EXIT_FAILURES = 1  # some videos failed (2 stays "user error", as for every command)
COMPRESSION_HELP = (
    "feature arrays: none (default; read straight into the batch) | lzf (fast to decompress) | "
    "gzip (smallest, slowest to read); docs/data.md has the measured read cost"
)


def add_subcommands(sub) -> None:
    """Adds the three video commands to ``sub`` (the main parser's subparsers)."""
    from mspan_pyg.video.decode import DECODERS, MAX_PIXELS, MIN_FRAMES

    ex = sub.add_parser(
        "extract-features", help="decode videos and write an HDF5 feature file (--features)"
    )
    ex.add_argument(
        "source", help="a folder of videos, or a text file: PATH or PATH<TAB>ID per line"
    )
    ex.add_argument("--out", required=True, help="the HDF5 feature file to write")
    ex.add_argument(
        "--ids",
        default="stem",
        help="video id from the file name: stem (TGIF-QA gif_name; default) | int (last digits: "
        "video7010.mp4 -> 7010, MSRVTT-QA)",
    )
    ex.add_argument(
        "--annotations",
        nargs="+",
        default=(),
        help="TGIF-QA CSVs / MSVD-MSRVTT-QA JSONs: only the videos their questions use",
    )
    b = ex.add_argument_group("backbones")
    b.add_argument(
        "--appearance",
        default="resnet152",
        help="resnet152 (default) | resnet101 | resnet50 | clip:ViT-B-32 | clip:ViT-B-16 | "
        "clip:ViT-L-14 (any open_clip architecture; the clip extra; weights from a local file) "
        "| pixels",
    )
    b.add_argument(
        "--motion",
        default="resnext101",
        help="resnext101 (Hara et al., default) | r2plus1d_18 | r3d_18 | mc3_18 | s3d | "
        "mvit_v1_b | mvit_v2_s | pixels | none",
    )
    b.add_argument("--appearance-weights", default=None, help="weights file, or torchvision:NAME")
    b.add_argument("--motion-weights", default=None, help="weights file, or torchvision:NAME")
    b.add_argument(
        "--random-weights",
        action="store_true",
        help="random (seeded) weights where none are given: for tests; recorded in the file",
    )
    b.add_argument("--seed", type=int, default=0, help="seed of --random-weights (default 0)")
    s = ex.add_argument_group("sampling and preprocessing")
    s.add_argument(
        "--preset",
        default="mspan",
        help="mspan: N frames, /appearance /motion /ids (default) | hcrn: 8 clips x 16 frames, "
        "/resnet_features /resnext_features /ids",
    )
    s.add_argument(
        "--num-frames",
        type=int,
        default=16,
        help="N of the mspan preset (default 16; the cap of --sampling fps)",
    )
    s.add_argument(
        "--sampling",
        default="uniform",
        help="frames of the mspan preset: uniform (N segment centres, the paper's; default) | fps "
        "(--fps F frames per second, at most N) | random (one frame per segment, seeded by "
        "--sampling-seed: one augmented sampling per file)",
    )
    s.add_argument("--fps", type=float, default=None, help="frames per second of --sampling fps")
    s.add_argument(
        "--sampling-seed", type=int, default=0, help="seed of --sampling random (default 0)"
    )
    s.add_argument("--num-clips", type=int, default=8, help="clips of the hcrn preset (default 8)")
    s.add_argument("--snippet", type=int, default=16, help="frames per motion snippet (default 16)")
    s.add_argument("--image-size", type=int, default=None, help="appearance input side")
    s.add_argument("--motion-size", type=int, default=None, help="motion input side")
    s.add_argument(
        "--compat",
        default=None,
        help="mspan | hcrn: the original scripts' preprocessing (squashed bicubic resize, std "
        "0.224 typo, unnormalised motion input) so that old checkpoints stay usable",
    )
    r = ex.add_argument_group("run")
    r.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    r.add_argument(
        "--decoder",
        default="auto",
        help=f"{' | '.join(DECODERS)} | auto (default: torchcodec, measured faster, where it "
        "loads, else pyav; the same frames; torchcodec is the torchcodec extra)",
    )
    r.add_argument("--half", action="store_true", help="fp16 autocast on CUDA")
    r.add_argument("--batch-videos", type=int, default=8, help="videos per backbone batch (8)")
    r.add_argument("--frames-per-pass", type=int, default=64, help="frames per forward pass (64)")
    r.add_argument(
        "--workers",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="decoding processes (default min(2, CPUs); 0 = in the main process)",
    )
    r.add_argument("--dtype", default="float32", help="float32 | float16")
    r.add_argument("--compression", default="none", help=COMPRESSION_HELP)
    r.add_argument(
        "--min-frames",
        type=int,
        default=MIN_FRAMES,
        help=f"fewer frames fail (default {MIN_FRAMES})",
    )
    r.add_argument(
        "--max-pixels",
        type=int,
        default=MAX_PIXELS,
        help=f"larger frames fail (default {MAX_PIXELS} = 4096 x 4096)",
    )
    r.add_argument("--shard", default=None, help="I/N: every N-th video from the I-th (0-based)")
    r.add_argument("--overwrite", action="store_true", help="start again instead of resuming")
    r.add_argument(
        "--allow-failures", action="store_true", help="exit 0 even when some videos failed"
    )
    r.add_argument("--no-progress", dest="progress", action="store_false")

    mg = sub.add_parser("merge-features", help="merge the shards of one extraction")
    mg.add_argument("inputs", nargs="+", help="shard files (same extraction settings)")
    mg.add_argument("--out", required=True)
    mg.add_argument("--compression", default="none", help=COMPRESSION_HELP)

    an = sub.add_parser("answer", help="answer a question about a video with a checkpoint")
    an.add_argument("checkpoint", help="a checkpoint trained on extract-features features")
    an.add_argument("--video", required=True)
    an.add_argument("--question", required=True)
    an.add_argument("--candidates", nargs="+", default=None, help="multiple choice: the answers")
    an.add_argument("--top-k", type=int, default=5)
    an.add_argument("--appearance-weights", default=None)
    an.add_argument("--motion-weights", default=None)
    an.add_argument("--device", default="cpu")
    an.add_argument(
        "--decoder",
        default=None,
        help="pyav | torchcodec | auto (default; both give the same frames as the training "
        "features' decoder)",
    )
    an.add_argument("--explain", default=None, help="PNG: attention with the sampled frames")
    an.add_argument("--json", action="store_true", help="print the result as JSON")


def cmd_extract(ns: argparse.Namespace) -> int:
    from mspan_pyg.video.extract import ExtractConfig, extract_features, list_videos, parse_shard

    videos, missing = list_videos(ns.source, ns.ids, ns.annotations)
    config = ExtractConfig(
        appearance=ns.appearance,
        motion=ns.motion,
        appearance_weights=ns.appearance_weights,
        motion_weights=ns.motion_weights,
        random_weights=ns.random_weights,
        seed=ns.seed,
        layout=ns.preset,
        num_frames=ns.num_frames,
        num_clips=ns.num_clips,
        snippet=ns.snippet,
        image_size=ns.image_size,
        motion_size=ns.motion_size,
        compat=ns.compat,
        device=ns.device,
        half=ns.half,
        batch_videos=ns.batch_videos,
        frames_per_pass=ns.frames_per_pass,
        workers=ns.workers,
        dtype=ns.dtype,
        min_frames=ns.min_frames,
        max_pixels=ns.max_pixels,
        progress=ns.progress,
        decoder=ns.decoder,
        sampling=ns.sampling,
        fps=ns.fps,
        sampling_seed=ns.sampling_seed,
        compression=ns.compression,
    )
    s = extract_features(
        videos, ns.out, config, shard=parse_shard(ns.shard), missing=missing, overwrite=ns.overwrite
    )
    print(
        f"{s.out}: {s.written} video(s) written, {s.already_done} already there, {s.failed} "
        f"failed, of {s.total}; {s.seconds:.1f} s ({s.videos_per_s:.2f} videos/s; decode "
        f"{s.decode_s:.1f} CPU-s in workers, backbones {s.backbone_s:.1f} s, "
        f"writing {s.write_s:.1f} s)"
    )
    if s.failed:
        for vid, path, reason in s.failures[:10]:
            print(f"failed: {vid} ({path or 'no file'}): {reason}", file=sys.stderr)
        more = f" (and {s.failed - 10} more)" if s.failed > 10 else ""
        print(f"{s.failed} video(s) failed{more}; all listed in {s.failures_file}", file=sys.stderr)
        if not ns.allow_failures:
            print("exiting with status 1 (--allow-failures accepts them)", file=sys.stderr)
            return EXIT_FAILURES
    return 0


def cmd_merge(ns: argparse.Namespace) -> int:
    from mspan_pyg.video.extract import merge_feature_files

    n = merge_feature_files(ns.inputs, ns.out, compression=ns.compression)
    print(f"wrote {n} videos to {ns.out}")
    return 0


def cmd_answer(ns: argparse.Namespace) -> int:
    from mspan_pyg.video.answer import answer

    r: Dict[str, Any] = answer(
        ns.checkpoint,
        ns.video,
        ns.question,
        candidates=ns.candidates,
        top_k=ns.top_k,
        appearance_weights=ns.appearance_weights,
        motion_weights=ns.motion_weights,
        device=ns.device,
        explain=ns.explain,
        decoder=ns.decoder,
    )
    if ns.json:
        print(json.dumps(r))
        return 0
    print(f"Q: {ns.question}")
    if r["head"] == "count":
        print(f"count: {r['count']} (raw output {r['raw']:.3f})")
    else:
        for name, p in r["answers"]:
            print(f"{p:7.2%}  {name}")
    if r["figure"]:
        print(f"wrote {r['figure']}")
    return 0


COMMANDS = {"extract-features": cmd_extract, "merge-features": cmd_merge, "answer": cmd_answer}
