"""MSPAN learns from pixels: rendered videos -> extract-features -> train -> answers.

    python examples/learn_from_pixels.py [--out runs/pixels] [--videos 400] [--epochs 20]

1. renders small MP4 videos of a big and a small coloured disc that appear one after the other
   (in random order, each moving) and writes TGIF-QA FrameQA files asking "what color is the
   big shape ?" / "... small shape ?": the answer is only in the pixels, and the question says
   which frames matter;
2. runs ``mspan-pyg extract-features`` on them with the parameter-free ``pixels`` backbones
   (4 x 4 RGB thumbnails and each frame's brightest colour; pretrained networks cannot be
   downloaded here and random ImageNet-style networks do not keep colours apart reliably);
3. trains MSPAN on the features and the question-only baseline (video input zeroed), and prints
   their test accuracies side by side;
4. answers a question about one test video with ``mspan-pyg answer`` (``--explain`` picture).

A few CPU minutes. Everything goes under ``--out``.

Other backbones go the same way, e.g. CLIP from a local weights file (the ``clip`` extra)::

    python examples/learn_from_pixels.py --appearance clip:ViT-B-32 \
        --appearance-weights open_clip_vit_b_32.pt --motion none
    python examples/learn_from_pixels.py --tiny-clip --motion none   # no weights: a demo

``--tiny-clip`` first saves a tiny random CLIP (``clip:tiny``) to ``--appearance-weights``
(default ``OUT/data/tiny_clip.pt``) and extracts with it through the same path as real weights:
the whole path runs, though random CLIP features say little about colours.
"""

import argparse
import os

from mspan_pyg.cli.main import main
from mspan_pyg.files import write_json


def run(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=os.path.join("runs", "learn_from_pixels"))
    p.add_argument("--videos", type=int, default=300, help="videos (2 questions each)")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", dest="progress", action="store_false")
    p.add_argument("--appearance", default=None, help="backbone (default pixels)")
    p.add_argument("--appearance-weights", default=None, help="local weights file")
    p.add_argument("--motion", default="pixels", help="motion backbone (default pixels)")
    p.add_argument("--random-weights", action="store_true", help="random (seeded) weights")
    p.add_argument("--decoder", default="auto", help="pyav | torchcodec | auto")
    p.add_argument(
        "--tiny-clip", action="store_true", help="save a tiny random CLIP first and use it"
    )
    a = p.parse_args(argv)
    from mspan_pyg.training.runner import train
    from mspan_pyg.video.synthetic import make_shape_videos

    data = os.path.join(a.out, "data")
    paths = make_shape_videos(data, a.videos, seed=a.seed)
    features = os.path.join(data, "features.h5")
    quiet = [] if a.progress else ["--no-progress"]
    appearance, weights = a.appearance or "pixels", a.appearance_weights
    if a.tiny_clip:
        from mspan_pyg.video.backbones.clip import write_tiny_clip

        appearance = a.appearance or "clip:tiny"
        weights = weights or os.path.join(data, "tiny_clip.pt")
        write_tiny_clip(weights, seed=a.seed)
    backbones = ["--appearance", appearance, "--motion", a.motion, "--decoder", a.decoder]
    backbones += ["--appearance-weights", weights] if weights else []
    backbones += ["--random-weights"] if a.random_weights else []
    status = main(["extract-features", paths["videos"], "--out", features, *backbones, *quiet])
    if status != 0:
        raise SystemExit(status)
    common = dict(
        dataset="tgif", task="frameqa", data_dir=data, features=features, epochs=a.epochs,
        batch_size=16, lr=1e-3, lr_patience=5, warmup_epochs=1.0, grad_clip=1.0, num_scales=4,
        num_iterations=2, visual_dim=64, module_dim=64, word_dim=32, dropout=0.0,
        question_layers=1, seed=a.seed, overwrite=True, progress=a.progress,
    )  # fmt: skip
    video = train(dict(common, out=os.path.join(a.out, "mspan")))
    blind = train(dict(common, out=os.path.join(a.out, "question_only"), question_only=True))
    table = {
        "test questions": video["num_questions"]["test"],
        "MSPAN on extracted features": video["test"]["accuracy"],
        "question only": blind["test"]["accuracy"],
    }
    print()
    print(f"{'FrameQA (colour of the big / small shape)':<46}{'test accuracy':>14}")
    mspan = table["MSPAN on extracted features"]
    print(f"{'MSPAN on features from extract-features':<46}{mspan:>14.3f}")
    print(f"{'question only (video zeroed)':<46}{table['question only']:>14.3f}")
    print(f"{'test questions':<46}{table['test questions']:>14d}")
    write_json(os.path.join(a.out, "summary.json"), table)
    print()
    main(
        ["answer", os.path.join(a.out, "mspan", "best.pt"), "--video",
         os.path.join(paths["videos"], "v0000.mp4"), "--question",
         "what color is the big shape ?", "--explain", os.path.join(a.out, "v0000.png"),
         *(["--appearance-weights", weights] if weights else [])]
    )  # fmt: skip
    return table


if __name__ == "__main__":
    run()
