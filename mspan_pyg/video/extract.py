"""Videos -> the library's HDF5 features: decoding workers, batched backbones, an atomic writer.

    extract_features(list_videos("gifs/"), "feats.h5", ExtractConfig(...))

Pipeline: a :class:`torch.utils.data.DataLoader` runs :class:`VideoFrames` in ``workers``
processes (one streaming decode per video, frames resized there, so only small uint8 arrays
cross processes); the main process stacks ``batch_videos`` videos into one appearance and one
motion pass on ``device`` and writes the batch as a *part* file.

Crash safety and resume: each batch becomes ``OUT.parts/part-NNNNNN.h5``, written to a temporary
name and renamed, so every file on disk is complete at every moment and a kill loses at most the
batch in flight. At the end the previous ``OUT`` (if any) and the parts are merged into a new
``OUT`` (temporary file + ``os.replace``) and the parts are removed. Rerunning the command skips
every video already in ``OUT`` or in a part. A video that cannot be used is never written as a
zero row: it goes to ``OUT``'s failures file (``feats.failures.tsv``: id, path, reason).

Layouts: ``mspan`` (default) writes ``/appearance [V, N, Da]``, ``/motion [V, N, Dm]``, ``/ids``
(read by :class:`~mspan_pyg.data.FeatureStore` and ``--features``); ``hcrn`` writes HCRN's
``/resnet_features [V, C, L, Da]``, ``/resnext_features [V, C, Dm]`` and ``/ids`` (give the one
file as both HCRN inputs; ``mspan-pyg convert-features hcrn`` reads it too). Both add
``/frame_indices`` (the decoded frames of every row) and ``/num_source_frames``.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import time
import zlib
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from mspan_pyg.data import provenance as P
from mspan_pyg.errors import ConfigError, DataError

from . import require
from .backbones import Backbone, build_backbone, rebuild_backbone
from .decode import (
    DECODERS,
    MAX_PIXELS,
    MIN_FRAMES,
    VideoError,
    decode,
    require_torchcodec,
    torchcodec_loads,
)
from .preprocess import Preprocess
from .sampling import SAMPLINGS, SNIPPET_LENGTH, plan, rule_text

VIDEO_EXTENSIONS = (
    ".gif", ".mp4", ".avi", ".webm", ".mkv", ".mov", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv",
    ".ogv", ".3gp",
)  # fmt: skip
ID_RULES = ("stem", "int")
VideoId = Union[str, int]


# ---------------------------------------------------------------------------------- inputs
def video_id(path: str, rule: str = "stem") -> VideoId:
    """The id of a video file: ``stem`` = the file name without its extension (TGIF-QA's
    ``gif_name``); ``int`` = the last run of digits in the stem (``video7010.mp4`` -> 7010,
    MSRVTT-QA's ``video_id``)."""
    stem = os.path.splitext(os.path.basename(path))[0]
    if rule == "stem":
        return stem
    if rule == "int":
        digits = re.findall(r"\d+", stem)
        if not digits:
            raise DataError(f"{path}: --ids int but the file name {stem!r} has no digits")
        return int(digits[-1])
    raise ConfigError(f"unknown id rule {rule!r}; valid: {', '.join(ID_RULES)}")


def _annotation_ids(path: str) -> List[VideoId]:
    """Video ids named by a TGIF-QA CSV (``gif_name``) or a MSVD/MSRVTT-QA JSON (``video_id``)."""
    if not os.path.isfile(path):
        raise ConfigError(f"--annotations {path}: file not found")
    if path.endswith(".json"):
        with open(path, encoding="utf-8") as f:
            rows = json.load(f)
        if not isinstance(rows, list) or any(
            not isinstance(r, dict) or "video_id" not in r for r in rows
        ):
            raise DataError(f"{path}: expected a JSON list of objects with a 'video_id'")
        return [r["video_id"] for r in rows]
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t"))
    header = [h.strip().lower() for h in rows[0]] if rows else []
    if "gif_name" not in header:
        raise DataError(f"{path}: no gif_name column (a TGIF-QA tab-separated file expected)")
    col = header.index("gif_name")
    return [r[col].strip() for r in rows[1:] if len(r) > col and r[col].strip()]


def list_videos(
    source: str, id_rule: str = "stem", annotations: Sequence[str] = ()
) -> Tuple[List[Tuple[VideoId, str]], List[Tuple[VideoId, str, str]]]:
    """``(videos, missing)``: ``[(id, path)]`` sorted by id, and annotation ids without a file.

    ``source`` is a folder (its files with a video extension, not recursive) or a text file
    listing one video per line: ``PATH`` or ``PATH<TAB>ID`` (relative paths are relative to the
    list file). ``annotations`` (TGIF-QA CSVs / MSVD-MSRVTT-QA JSONs) keep only the videos their
    questions use; their ids without a video file are returned as ``missing`` failures.
    """
    items: List[Tuple[VideoId, str]] = []
    if os.path.isdir(source):
        for name in sorted(os.listdir(source)):
            path = os.path.join(source, name)
            if name.lower().endswith(VIDEO_EXTENSIONS) and os.path.isfile(path):
                items.append((video_id(path, id_rule), path))
        if not items:
            raise ConfigError(
                f"{source}: no video files (extensions {', '.join(VIDEO_EXTENSIONS)})"
            )
    elif os.path.isfile(source):
        base = os.path.dirname(os.path.abspath(source))
        with open(source, encoding="utf-8") as f:
            for line_no, line in enumerate(f, start=1):
                line = line.rstrip("\n")
                if not line.strip() or line.startswith("#"):
                    continue
                parts = line.split("\t")
                if len(parts) > 2:
                    raise DataError(f"{source}, line {line_no}: expected PATH or PATH<TAB>ID")
                path = parts[0].strip()
                path = path if os.path.isabs(path) else os.path.join(base, path)
                if len(parts) == 2:
                    raw = parts[1].strip()
                    vid: VideoId = int(raw) if id_rule == "int" else raw
                else:
                    vid = video_id(path, id_rule)
                items.append((vid, path))
    else:
        raise ConfigError(f"{source}: no such folder or list file")
    seen: Dict[VideoId, str] = {}
    for vid, path in items:
        if vid in seen:
            raise DataError(f"two videos have the id {vid!r}: {seen[vid]} and {path}")
        seen[vid] = path
    missing: List[Tuple[VideoId, str, str]] = []
    if annotations:
        wanted: Dict[VideoId, None] = {}
        for a in annotations:
            wanted.update(dict.fromkeys(_annotation_ids(a)))
        key = (lambda v: int(v)) if id_rule == "int" else (lambda v: str(v))  # noqa: E731
        wanted_keys = {key(v) for v in wanted}
        items = [(v, p) for v, p in items if v in wanted_keys]
        have = {v for v, _ in items}
        missing = [(key(v), "", "no video file for this annotation id") for v in wanted]
        missing = [m for m in missing if m[0] not in have]
    items.sort(key=lambda x: (str(type(x[0])), x[0]))
    return items, missing


def parse_shard(text: Optional[str]) -> Optional[Tuple[int, int]]:
    """``"I/N"`` -> ``(I, N)`` with ``0 <= I < N``."""
    if text is None:
        return None
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not m or not 0 <= int(m.group(1)) < int(m.group(2)):
        raise ConfigError(f"--shard must be I/N with 0 <= I < N, got {text!r}")
    return int(m.group(1)), int(m.group(2))


def shard_path(out: str, shard: Optional[Tuple[int, int]]) -> str:
    """``feats.h5`` -> ``feats.shard1of4.h5`` for shard 1 of 4."""
    if shard is None:
        return out
    root, ext = os.path.splitext(out)
    return f"{root}.shard{shard[0]}of{shard[1]}{ext or '.h5'}"


def failures_path(out: str) -> str:
    return os.path.splitext(out)[0] + ".failures.tsv"


def parts_dir(out: str) -> str:
    return out + ".parts"


# ------------------------------------------------------------------------------- settings
@dataclass
class ExtractConfig:
    """Extraction settings (the ``extract-features`` flags).

    Args:
        appearance, motion: backbone names (:mod:`~mspan_pyg.video.backbones`).
        appearance_weights, motion_weights: weights file or ``torchvision:NAME``.
        random_weights: allow random (seeded) weights for backbones given no weights.
        seed: seed of random weights.
        layout: ``mspan`` (N frames) or ``hcrn`` (C clips x L frames).
        num_frames: N (``mspan``). num_clips: C (``hcrn``). snippet: L, frames per motion snippet.
        image_size, motion_size: input sides (default: each backbone's).
        compat: ``mspan`` / ``hcrn``: the original scripts' preprocessing.
        device: ``cpu``, ``cuda``, ``cuda:1``. half: fp16 autocast on CUDA.
        batch_videos: videos per backbone batch (and per part file).
        frames_per_pass: frames (appearance) / snippets (motion) per forward pass.
        workers: decoding processes (0 = in the main process).
        dtype: stored float type. min_frames, max_pixels: bad-video limits.
        decoder: ``pyav``, ``torchcodec`` (the same frames) or ``auto`` (the default:
            torchcodec, measured faster, where it loads, else PyAV; :meth:`check` resolves it).
        sampling: ``uniform``, ``fps`` (``fps`` frames per second, at most ``num_frames``) or
            ``random`` (one frame per segment, seeded by ``sampling_seed`` and the file name).
        compression: of the final file's feature arrays: none, lzf or gzip (a storage choice,
            not an extraction setting: files of different compression merge).
    """

    appearance: str = "resnet152"
    motion: str = "resnext101"
    appearance_weights: Optional[str] = None
    motion_weights: Optional[str] = None
    random_weights: bool = False
    seed: int = 0
    layout: str = "mspan"
    num_frames: int = 16
    num_clips: int = 8
    snippet: int = SNIPPET_LENGTH
    image_size: Optional[int] = None
    motion_size: Optional[int] = None
    compat: Optional[str] = None
    device: str = "cpu"
    half: bool = False
    batch_videos: int = 8
    frames_per_pass: int = 64
    workers: int = field(default_factory=lambda: min(2, os.cpu_count() or 1))
    dtype: str = "float32"
    min_frames: int = MIN_FRAMES
    max_pixels: int = MAX_PIXELS
    progress: bool = True
    decoder: str = "auto"
    sampling: str = "uniform"
    fps: Optional[float] = None
    sampling_seed: int = 0
    compression: Optional[str] = None

    def check(self) -> None:
        if self.decoder == "auto":
            self.decoder = "torchcodec" if torchcodec_loads() else "pyav"
        if self.decoder not in DECODERS:
            raise ConfigError(f"unknown --decoder {self.decoder!r}; valid: {', '.join(DECODERS)}")
        if self.decoder == "torchcodec":
            require_torchcodec()  # fail before any video, naming the extra
        if self.sampling not in SAMPLINGS:
            raise ConfigError(
                f"unknown --sampling {self.sampling!r}; valid: {', '.join(SAMPLINGS)}"
            )
        if (self.sampling == "fps") != (self.fps is not None):
            raise ConfigError("--fps F goes with --sampling fps (and it needs --fps)")
        if self.fps is not None and self.fps <= 0:
            raise ConfigError(f"--fps must be > 0, got {self.fps}")
        if self.layout == "hcrn" and self.sampling != "uniform":
            raise ConfigError(
                "--preset hcrn uses HCRN's clip rule; --sampling needs --preset mspan"
            )
        if self.layout not in ("mspan", "hcrn"):
            raise ConfigError(f"unknown --preset {self.layout!r}; valid: mspan, hcrn")
        if self.dtype not in ("float16", "float32"):
            raise ConfigError(f"--dtype must be float16 or float32, got {self.dtype!r}")
        if self.compression not in (None, "none", "lzf", "gzip"):
            raise ConfigError(f"--compression must be none, lzf or gzip, got {self.compression!r}")
        for name in ("num_frames", "num_clips", "snippet", "batch_videos", "frames_per_pass"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be >= 1")
        if self.workers < 0:
            raise ConfigError("--workers must be >= 0")
        if self.min_frames < 1:
            raise ConfigError("--min-frames must be >= 1")
        if self.layout == "hcrn" and self.motion == "none":
            raise ConfigError("--preset hcrn writes resnext_features: it needs a motion backbone")


# ------------------------------------------------------------------------------ extractor
class Extractor:
    """Backbones + sampling: turns decoded videos into feature arrays (one batch at a time)."""

    def __init__(self, config: ExtractConfig, appearance: Backbone, motion: Backbone):
        self.config = config
        self.appearance = appearance
        self.motion = motion
        self.device = torch.device(config.device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError("--device cuda but CUDA is not available")
        self.appearance.to(self.device)
        self.motion.to(self.device)

    @classmethod
    def from_config(cls, config: ExtractConfig) -> "Extractor":
        config.check()
        a = build_backbone(
            "appearance", config.appearance, config.appearance_weights, config.random_weights,
            config.seed, config.image_size, config.compat,
        )  # fmt: skip
        m = build_backbone(
            "motion", config.motion, config.motion_weights, config.random_weights,
            config.seed + 1, config.motion_size, config.compat,
        )  # fmt: skip
        return cls(config, a, m)

    @classmethod
    def from_provenance(
        cls,
        record: Dict[str, Any],
        appearance_weights: Optional[str] = None,
        motion_weights: Optional[str] = None,
        device: str = "cpu",
        decoder: Optional[str] = None,
    ) -> "Extractor":
        """The extraction a feature file (or a checkpoint trained on one) records. ``decoder``
        (default ``auto``) need not be the recorded one: both give the same frames."""
        config = ExtractConfig(
            appearance=record["appearance"]["name"], motion=record["motion"]["name"],
            layout=record["layout"], num_frames=record["num_frames"],
            num_clips=record["num_clips"], snippet=record["snippet"], compat=record["compat"],
            min_frames=record["min_frames"], device=device, workers=0, progress=False,
            decoder=decoder or "auto",  # the decoders give the same frames: any one will do
            sampling=record.get("sampling", "uniform"), fps=record.get("fps"),
            sampling_seed=record.get("sampling_seed", 0),
        )  # fmt: skip
        config.check()
        a = rebuild_backbone("appearance", record["appearance"], appearance_weights, config.compat)
        m = rebuild_backbone("motion", record["motion"], motion_weights, config.compat)
        return cls(config, a, m)

    # -------------------------------------------------------------------- provenance
    def provenance(self) -> Dict[str, Any]:
        c = self.config
        av = require("av")
        import mspan_pyg

        return {
            "format": "mspan-pyg-video-features",
            "appearance": self.appearance.provenance(),
            "motion": self.motion.provenance(),
            "random_weights": any(
                b.weights.get("source") == "random" for b in (self.appearance, self.motion)
            ),
            "layout": c.layout,
            "num_frames": c.num_frames if c.layout == "mspan" else c.num_clips * c.snippet,
            "num_clips": c.num_clips,
            "snippet": c.snippet,
            "compat": c.compat,
            "min_frames": c.min_frames,
            "dtype": c.dtype,
            "frame_rule": rule_text(
                c.layout, c.num_frames, c.snippet, c.num_clips, c.sampling, c.fps, c.sampling_seed
            ),
            "sampling": c.sampling,
            "fps": c.fps,
            "sampling_seed": c.sampling_seed,
            "decoder": c.decoder,
            "decoder_version": _decoder_version(c.decoder, av),
            "ffmpeg_version": ".".join(map(str, av.library_versions.get("libavcodec", ()))),
            "library_version": getattr(mspan_pyg, "__version__", "unknown"),
            "torch_version": torch.__version__,
        }

    # ----------------------------------------------------------------------- decoding
    def decoder(self) -> "FrameDecoder":
        """The picklable decoding half (no network): what the worker processes run."""
        return FrameDecoder(
            self.config,
            self.appearance.preprocess,
            self.motion.preprocess,
            self.motion.name != "none",
        )

    def load(self, path: str) -> Dict[str, Any]:
        """Decodes one video (raises :class:`VideoError`)."""
        return self.decoder().load(path)

    # ---------------------------------------------------------------------- backbones
    def _run(self, backbone: Backbone, frames: torch.Tensor) -> torch.Tensor:
        step = self.config.frames_per_pass
        outs = []
        amp = self.config.half and self.device.type == "cuda"
        for s in range(0, frames.size(0), step):
            x = frames[s : s + step].to(self.device, non_blocking=True)
            with torch.autocast("cuda", dtype=torch.float16, enabled=amp):
                outs.append(backbone(x).float().cpu())
        return torch.cat(outs)

    def features(self, items: Sequence[Dict[str, Any]]) -> Dict[str, np.ndarray]:
        """Feature arrays of decoded videos (see the module docstring for the layouts)."""
        c = self.config
        B = len(items)
        app = torch.from_numpy(np.concatenate([it["appearance"] for it in items]))
        fa = self._run(self.appearance, app)
        out: Dict[str, np.ndarray] = {}
        if c.layout == "mspan":
            out["appearance"] = fa.view(B, -1, fa.size(-1)).numpy()
        else:
            out["resnet_features"] = fa.view(B, c.num_clips, c.snippet, fa.size(-1)).numpy()
        if self.motion.name != "none":
            snippets = np.concatenate([it["motion_frames"][it["motion_windows"]] for it in items])
            fm = self._run(self.motion, torch.from_numpy(snippets))
            name = "motion" if c.layout == "mspan" else "resnext_features"
            out[name] = fm.view(B, -1, fm.size(-1)).numpy()
        dtype = np.float16 if c.dtype == "float16" else np.float32
        out = {k: v.astype(dtype) for k, v in out.items()}
        out["frame_indices"] = np.stack([it["frame_indices"] for it in items])
        out["num_source_frames"] = np.asarray(
            [it["num_source_frames"] for it in items], dtype=np.int64
        )
        return out


def _decoder_version(decoder: str, av) -> str:
    if decoder == "torchcodec":
        import torchcodec

        return torchcodec.__version__
    return av.__version__


def _thumbnail(rgb: np.ndarray, height: int = 64) -> np.ndarray:
    """A small copy of a sampled frame for ``answer --explain``."""
    from PIL import Image

    h, w = rgb.shape[:2]
    img = Image.fromarray(rgb).resize((max(1, round(w * height / h)), height), Image.BILINEAR)
    return np.asarray(img)


@dataclass
class FrameDecoder:
    """Decodes one video into resized uint8 frames: appearance ``[N, S, S, 3]``, the distinct
    motion frames ``[U, s, s, 3]`` with each snippet's positions in them ``[M, L]``, and
    thumbnails of the sampled frames."""

    config: ExtractConfig
    appearance: Preprocess
    motion: Preprocess
    use_motion: bool

    def load(self, path: str) -> Dict[str, Any]:
        c = self.config
        app_set: set = set()

        # random sampling: the same seed gives each file its own, reproducible draw
        seed = (c.sampling_seed + zlib.crc32(os.path.basename(path).encode())) % 2**32

        def planned(total: int, times):
            p = plan(
                total, c.layout, c.num_frames, c.snippet, c.num_clips,
                c.sampling, c.fps, times, seed,
            )  # fmt: skip
            app_set.clear()
            app_set.update(int(i) for i in p.appearance)
            return p

        def convert(index: int, rgb: np.ndarray) -> Dict[str, np.ndarray]:
            out = {}
            if index in app_set:
                out["a"] = self.appearance.resize_frame(rgb)
                out["thumb"] = _thumbnail(rgb)
            if self.use_motion:
                out["m"] = self.motion.resize_frame(rgb)
            return out

        start = time.perf_counter()
        the_plan, frames, info = decode(
            path, planned, convert, c.min_frames, c.max_pixels, c.decoder
        )
        pos_a = the_plan.positions(the_plan.appearance)
        item = {
            "appearance": np.stack([frames[k]["a"] for k in pos_a]),
            "thumbnails": np.stack([frames[k]["thumb"] for k in pos_a]),
            "frame_indices": the_plan.appearance.astype(np.int32),
            "num_source_frames": info.num_frames,
        }
        if self.use_motion:
            item["motion_frames"] = np.stack([f["m"] for f in frames])
            item["motion_windows"] = the_plan.positions(the_plan.motion)
        item["decode_s"] = time.perf_counter() - start
        return item


class VideoFrames(torch.utils.data.Dataset):
    """``(id, path)`` items -> decoded videos (or the reason they failed), for a DataLoader."""

    def __init__(self, items: Sequence[Tuple[VideoId, str]], decoder: FrameDecoder):
        self.items = list(items)
        self.decoder = decoder

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Dict[str, Any]:
        vid, path = self.items[index]
        try:
            item = self.decoder.load(path)
        except VideoError as e:
            return {"index": index, "error": e.reason}
        except Exception as e:  # noqa: BLE001 - one odd video must not stop a long run
            return {"index": index, "error": f"unexpected {type(e).__name__}: {e}"}
        item["index"] = index
        return item


def _no_collate(x):
    return x


def _worker_init(_):
    torch.set_num_threads(1)  # decoding is per process; backbones run in the main process


# --------------------------------------------------------------------------------- files
def _ids_array(ids: Sequence[VideoId]):
    import h5py

    if ids and all(isinstance(v, (int, np.integer)) for v in ids):
        return np.asarray(ids, dtype=np.int64), None
    return [str(v) for v in ids], h5py.string_dtype("utf-8")


def _fsync_dir(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:  # pragma: no cover - some file systems refuse
        pass


def _publish(tmp: str, path: str) -> None:
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(os.path.dirname(os.path.abspath(path)))


def write_part(path: str, arrays: Dict[str, np.ndarray], ids: Sequence[VideoId], record) -> None:
    """One batch as a complete feature file, published atomically."""
    import h5py

    tmp = path + ".tmp"
    with h5py.File(tmp, "w") as f:
        for name, data in arrays.items():
            f.create_dataset(name, data=data)
        data, dt = _ids_array(ids)
        f.create_dataset("ids", data=data, dtype=dt)
        P.write_attributes(f, record)
    _publish(tmp, path)


def _file_record(path: str) -> Dict[str, Any]:
    rec = P.parse(P.read_provenance(path))
    if rec is None:
        raise DataError(f"{path}: not a feature file written by extract-features (no provenance)")
    return rec


def _file_ids(path: str) -> List[VideoId]:
    import h5py

    from mspan_pyg.data.features import _decode_ids

    with h5py.File(path, "r") as f:
        return _decode_ids(f["ids"][()], path)


def merge_feature_files(
    inputs: Sequence[str],
    out: str,
    record: Optional[Dict[str, Any]] = None,
    compression: Optional[str] = None,
) -> int:
    """Concatenates feature files with equal extraction settings into ``out`` (atomically).

    Used at the end of every extraction run (the previous output + this run's parts) and by
    ``mspan-pyg merge-features`` for the shards of a multi-GPU / multi-machine run. Raises
    :class:`DataError` on differing settings or a repeated id. Returns the number of videos.
    Feature arrays are chunked by video, optionally compressed (``create_features``).
    """
    import h5py

    from mspan_pyg.data.features import create_features

    if not inputs:
        raise ConfigError("nothing to merge")
    records = [_file_record(p) for p in inputs]
    base = record or records[0]
    for p, r in zip(inputs, records):
        diff = P.differences(base, r)
        if diff:
            k, (a, b) = next(iter(diff.items()))
            raise DataError(
                f"{p}: extracted with other settings than {inputs[0]} ({k}: {b!r} vs {a!r}); "
                "only files of one extraction can be merged"
            )
    ids: List[VideoId] = []
    where: Dict[VideoId, str] = {}
    for p in inputs:
        for v in _file_ids(p):
            if v in where:
                raise DataError(f"video id {v!r} is in both {where[v]} and {p}")
            where[v] = p
            ids.append(v)
    with h5py.File(inputs[0], "r") as f:
        names = [n for n in f if n != "ids" and isinstance(f[n], h5py.Dataset)]
        shapes = {n: f[n].shape[1:] for n in names}
        dtypes = {n: f[n].dtype for n in names}
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tmp = out + ".tmp"
    try:
        with h5py.File(tmp, "w") as g:
            # feature arrays ([V, N, D], HCRN's [V, C, L, D]) in the reading layout; per-row
            # bookkeeping (/frame_indices, /num_source_frames) stays one contiguous array
            dsets = {
                n: (
                    create_features(g, n, (len(ids),) + shapes[n], dtypes[n], compression)
                    if len(shapes[n]) >= 2
                    else g.create_dataset(n, (len(ids),) + shapes[n], dtype=dtypes[n])
                )
                for n in names
            }
            row = 0
            for p in inputs:
                with h5py.File(p, "r") as f:
                    n_rows = f["ids"].shape[0]
                    for n in names:
                        if f[n].shape[1:] != shapes[n]:
                            raise DataError(f"{p}: /{n} rows are {f[n].shape[1:]}, not {shapes[n]}")
                        for s in range(0, n_rows, 256):  # bounded memory for big files
                            e = min(s + 256, n_rows)
                            dsets[n][row + s : row + e] = f[n][s:e]
                row += n_rows
            data, dt = _ids_array(ids)
            g.create_dataset("ids", data=data, dtype=dt)
            P.write_attributes(g, base)
        _publish(tmp, out)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return len(ids)


def _write_failures(path: str, failures: List[Tuple[VideoId, str, str]]) -> None:
    if not failures:
        if os.path.exists(path):
            os.remove(path)
        return
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write("id\tpath\treason\n")
        for vid, p, reason in failures:
            f.write(f"{vid}\t{p}\t{' '.join(str(reason).split())}\n")
    os.replace(tmp, path)


# ------------------------------------------------------------------------------ the run
@dataclass
class ExtractSummary:
    out: str
    total: int = 0
    written: int = 0
    already_done: int = 0
    failed: int = 0
    failures_file: Optional[str] = None
    seconds: float = 0.0
    decode_s: float = 0.0
    backbone_s: float = 0.0
    write_s: float = 0.0
    failures: List[Tuple[VideoId, str, str]] = field(default_factory=list)

    @property
    def videos_per_s(self) -> float:
        return self.written / self.seconds if self.seconds > 0 else float("nan")

    def as_dict(self) -> Dict[str, Any]:
        d = asdict(self)
        d.pop("failures")
        d["videos_per_s"] = self.videos_per_s
        return d


def _distributed_shard() -> Optional[Tuple[int, int]]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return (int(os.environ.get("RANK", "0")), world) if world > 1 else None


def extract_features(
    videos: Sequence[Tuple[VideoId, str]],
    out: str,
    config: ExtractConfig,
    shard: Optional[Tuple[int, int]] = None,
    missing: Sequence[Tuple[VideoId, str, str]] = (),
    overwrite: bool = False,
    extractor: Optional[Extractor] = None,
) -> ExtractSummary:
    """Extracts ``videos`` into ``out`` (see the module docstring); resumes a previous run.

    ``shard = (I, N)`` (default: ``RANK / WORLD_SIZE`` under ``torchrun``) keeps every N-th
    video from the I-th and writes :func:`shard_path`; ``missing`` are failures found while
    listing (annotation ids without a file). Returns an :class:`ExtractSummary`.
    """
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    if shard is None:
        shard = _distributed_shard()
        if shard is not None and config.device == "cuda":
            config.device = f"cuda:{os.environ.get('LOCAL_RANK', '0')}"
    if shard is not None:
        videos = list(videos)[shard[0] :: shard[1]]
        missing = list(missing)[shard[0] :: shard[1]]
    out = shard_path(os.path.abspath(out), shard)
    extractor = extractor or Extractor.from_config(config)
    record = extractor.provenance()
    record["shard"] = list(shard) if shard else None
    parts = parts_dir(out)
    if overwrite:
        for p in (out, failures_path(out)):
            if os.path.exists(p):
                os.remove(p)
        shutil.rmtree(parts, ignore_errors=True)

    done: Dict[VideoId, None] = {}
    previous = [out] if os.path.isfile(out) else []
    part_files: List[str] = []
    if os.path.isdir(parts):
        for name in sorted(os.listdir(parts)):
            full = os.path.join(parts, name)
            if name.endswith(".tmp"):
                os.remove(full)  # the batch a kill interrupted
            elif name.endswith(".h5"):
                part_files.append(full)
    for p in previous + part_files:
        diff = P.differences(_file_record(p), record)
        if diff:
            k, (a, b) = next(iter(diff.items()))
            raise ConfigError(
                f"{p} was extracted with other settings ({k}: {a!r}, now {b!r}); use another "
                "--out, or --overwrite to start again"
            )
        done.update(dict.fromkeys(_file_ids(p)))
    todo = [(v, p) for v, p in videos if v not in done]
    summary = ExtractSummary(out=out, total=len(videos) + len(missing))
    summary.already_done = len(videos) - len(todo)
    failures: List[Tuple[VideoId, str, str]] = list(missing)
    fail_file = failures_path(out)
    _write_failures(fail_file, failures)

    os.makedirs(parts, exist_ok=True)
    next_part = 1 + max(
        [int(re.sub(r"\D", "", os.path.basename(p)) or 0) for p in part_files] + [0]
    )
    dataset = VideoFrames(todo, extractor.decoder())
    c = config if extractor.config is config else extractor.config
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=None,
        shuffle=False,
        num_workers=c.workers,
        collate_fn=_no_collate,
        worker_init_fn=_worker_init if c.workers else None,
        prefetch_factor=4 if c.workers else None,
    )
    bar = tqdm(total=len(todo), unit="video", disable=not c.progress, desc="extract")
    pending: List[Dict[str, Any]] = []

    def flush():
        nonlocal next_part
        if not pending:
            return
        t = time.perf_counter()
        arrays = extractor.features(pending)
        t1 = time.perf_counter()
        ids = [todo[it["index"]][0] for it in pending]
        write_part(os.path.join(parts, f"part-{next_part:06d}.h5"), arrays, ids, record)
        summary.backbone_s += t1 - t
        summary.write_s += time.perf_counter() - t1
        summary.written += len(pending)
        next_part += 1
        pending.clear()

    try:
        for item in loader:
            if "error" in item:
                vid, path = todo[item["index"]]
                failures.append((vid, path, item["error"]))
                _write_failures(fail_file, failures)
            else:
                summary.decode_s += item["decode_s"]
                pending.append(item)
                if len(pending) >= c.batch_videos:
                    flush()
            bar.update(1)
            if failures:
                bar.set_postfix(failed=len(failures) - len(missing) or None, refresh=False)
        flush()
    finally:
        bar.close()
    part_files = sorted(os.path.join(parts, n) for n in os.listdir(parts) if n.endswith(".h5"))
    if part_files:
        merge_feature_files(previous + part_files, out, record, config.compression)
    shutil.rmtree(parts, ignore_errors=True)
    summary.failures = failures
    summary.failed = len(failures)
    summary.failures_file = fail_file if failures else None
    summary.seconds = time.perf_counter() - t0
    return summary
