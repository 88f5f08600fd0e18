"""Samples/s read from an HDF5 feature file through FeatureStore / VideoQADataset / make_loader,
with and without worker processes (paper shapes: N=16 frames, 2048-d appearance and motion).

    python benchmarks/data_loading.py [--videos 2000] [--batch-size 64] [--workers 0 2]
"""

import argparse
import os
import tempfile
import time

import h5py
import numpy as np

from mspan_pyg.data import (
    AnswerVocabulary,
    FeatureStore,
    QARecord,
    VideoQADataset,
    Vocabulary,
    make_loader,
)


def write_features(path, videos, frames, dim):
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        for name in ("appearance", "motion"):
            f.create_dataset(
                name,
                data=rng.standard_normal((videos, frames, dim), dtype=np.float32).astype(
                    np.float16
                ),
            )
        f.create_dataset("ids", data=np.arange(videos, dtype=np.int64))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=2000)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    from benchmarks.common import write_json

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "features.h5")
        write_features(path, args.videos, args.frames, args.dim)
        records = [
            QARecord(
                video_id=v,
                question=f"what is in video {v % 50} ?",
                answer=f"a{v % 10}",
                candidates=None,
                qtype="what",
                key=v,
            )
            for v in range(args.videos)
        ]
        vocab = Vocabulary.from_records(records)
        answers = AnswerVocabulary.build(records)
        store = FeatureStore(path, check_finite=False)
        dataset = VideoQADataset(records, vocab, answers, store, "open")
        for workers in args.workers:
            loader = make_loader(dataset, args.batch_size, shuffle=True, num_workers=workers)
            start, samples = time.perf_counter(), 0
            for batch in loader:
                samples += batch["appearance"].size(0)
            seconds = time.perf_counter() - start
            results[f"workers={workers}"] = dict(
                samples_per_s=samples / seconds, seconds=seconds, samples=samples
            )
            print(
                f"workers={workers}: {samples / seconds:.0f} samples/s "
                f"({samples} samples, {seconds:.2f} s, shuffled, one HDF5 read per batch)"
            )
    write_json(args.json, results)
    return results


if __name__ == "__main__":
    main()
