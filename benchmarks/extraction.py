"""Feature-extraction speed: videos/s, with the decode / backbone split, per decoder.

    python benchmarks/extraction.py                 # CPU, small sizes (a few minutes at most)
    python benchmarks/extraction.py --frames 300 --motion none --workers 0   # sparse sampling
    python benchmarks/extraction.py --videos 32 --appearance resnet152 --motion resnext101 \
        --image-size 112 --motion-size 112 --workers 2

Renders ``--videos`` MP4 clips (``--frames`` frames of ``--size`` pixels), extracts them with
random weights (the speed does not depend on the weights' values) once per ``--decoders``
(default ``pyav,torchcodec``; one that cannot load is reported and skipped) and prints one JSON
line per decoder: wall time, videos/s, decoding CPU-seconds summed over the workers (and per
video, and decoded videos per decode-second), backbone seconds (and per video), and writing
seconds; then the decoders' rates side by side. Decoding runs in worker processes while the
backbones run in the main one, so wall time is less than their sum when both are busy.

On a GPU machine (the paper's setting: ResNet-152 at 224 and the 3D ResNeXt-101 at 112, fp16):

    python benchmarks/extraction.py --videos 256 --frames 120 --size 320 \
        --appearance resnet152 --motion resnext101 --image-size 224 --motion-size 112 \
        --device cuda --half --workers 8 --batch-videos 16
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time


def run(argv=None) -> dict:
    p = argparse.ArgumentParser(description="extract-features speed")
    p.add_argument("--videos", type=int, default=16)
    p.add_argument("--frames", type=int, default=48, help="frames per rendered video")
    p.add_argument("--size", type=int, default=96, help="rendered frame side")
    p.add_argument("--appearance", default="resnet50")
    p.add_argument("--motion", default="r3d_18")
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--motion-size", type=int, default=64)
    p.add_argument("--device", default="cpu")
    p.add_argument("--half", action="store_true")
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument("--batch-videos", type=int, default=4)
    p.add_argument("--decoders", default="pyav,torchcodec", help="comma-separated")
    p.add_argument("--repeats", type=int, default=1, help="runs per decoder (alternating)")
    p.add_argument(
        "--json", default=None, help="add this case's best run per decoder to this JSON file"
    )
    a = p.parse_args(argv)

    import numpy as np

    from mspan_pyg.errors import ConfigError
    from mspan_pyg.video.extract import ExtractConfig, extract_features, list_videos
    from mspan_pyg.video.synthetic import render_shapes, write_video

    with tempfile.TemporaryDirectory() as tmp:
        rng = np.random.default_rng(0)
        for v in range(a.videos):
            events = [("red", 0, a.frames // 2, tuple(rng.uniform(0.2, 0.8, 2)), (0.5, 0.5)),
                      ("blue", a.frames // 3, a.frames - 1, (0.5, 0.5), tuple(rng.uniform(0.2, 0.8, 2)))]  # fmt: skip  # noqa: E501
            write_video(os.path.join(tmp, f"v{v:04d}.mp4"), render_shapes(events, a.frames, a.size))
        videos, _ = list_videos(tmp)
        results = {}
        for run_index in range(a.repeats):
            for decoder in a.decoders.split(","):
                config = ExtractConfig(
                    appearance=a.appearance, motion=a.motion, random_weights=True,
                    image_size=a.image_size, motion_size=a.motion_size, device=a.device,
                    half=a.half, workers=a.workers, batch_videos=a.batch_videos,
                    progress=False, decoder=decoder,
                )  # fmt: skip
                try:
                    config.check()
                except ConfigError as e:
                    print(json.dumps({"decoder": decoder, "skipped": str(e)}))
                    continue
                out = os.path.join(tmp, f"feats_{decoder}_{run_index}.h5")
                start = time.perf_counter()
                s = extract_features(videos, out, config)
                wall = time.perf_counter() - start
                result = _result(a, decoder, s, wall)
                print(json.dumps(result))
                results.setdefault(decoder, []).append(result)
    if results:
        best = {d: max(r["videos_per_s"] for r in rs) for d, rs in results.items()}
        dec = {d: max(r["decode_videos_per_s"] for r in rs) for d, rs in results.items()}
        print(
            "side by side (best of runs): "
            + ", ".join(f"{d} {best[d]:.2f} videos/s ({dec[d]:.2f} decoded/s)" for d in best)
        )
        if a.json:
            _save_case(a, results)
    return results


def _save_case(a, results) -> None:
    """Keeps the best run of each decoder under this case's description (RESULTS.md's table)."""
    payload = {}
    if os.path.exists(a.json):
        with open(a.json) as f:
            payload = json.load(f)
    case = f"{a.videos} x {a.frames} frames of {a.size}x{a.size}, {a.appearance} + {a.motion}"
    payload[case] = {d: max(rs, key=lambda r: r["videos_per_s"]) for d, rs in results.items()}
    with open(a.json, "w") as f:
        json.dump(payload, f, indent=1)


def _result(a, decoder, s, wall) -> dict:
    n = max(s.written, 1)
    return {
        "decoder": decoder,
        "videos": s.written,
        "device": a.device,
        "backbones": f"{a.appearance}@{a.image_size} + {a.motion}@{a.motion_size}",
        "video": f"{a.frames} frames of {a.size}x{a.size}",
        "workers": a.workers,
        "wall_s": round(wall, 2),
        "videos_per_s": round(s.written / wall, 3),
        "decode_cpu_s": round(s.decode_s, 2),
        "decode_s_per_video": round(s.decode_s / n, 4),
        "decode_videos_per_s": round(s.written / max(s.decode_s, 1e-9), 2),
        "backbone_s": round(s.backbone_s, 2),
        "backbone_s_per_video": round(s.backbone_s / n, 4),
        "write_s": round(s.write_s, 3),
    }


if __name__ == "__main__":
    run()
