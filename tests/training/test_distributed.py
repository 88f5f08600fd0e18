"""Two CPU processes (torchrun, gloo) train to the same result as one process with the same
global batch; evaluation counts every record exactly once."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest
import torch
from training_utils import REPO, another_sampling, cli_flags, subprocess_env

from mspan_pyg.training.checkpoint import load_checkpoint
from mspan_pyg.training.distributed import ShardSampler

# dropout 0: the only randomness left is the data order, which both runs share.
# --limit 24 with --batch-size 16: 24 training questions split evenly (12 per process, batches
# of 8 + 8 and 4 + 4), so no DistributedSampler padding changes a global batch.
# frameqa (cross-entropy) rather than a hinge-loss task: with a hinge on score differences,
# parameters shared by all candidates get near-zero gradients whose round-off Adam turns into
# lr-sized steps, which no tolerance can compare.
FLAGS = dict(task="frameqa", epochs=2, limit=24, dropout=0.0, batch_size=16)


def test_shard_sampler_covers_every_record_once():
    shards = [list(ShardSampler(11, r, 3)) for r in range(3)]
    assert sorted(sum(shards, [])) == list(range(11))
    assert [len(ShardSampler(11, r, 3)) for r in range(3)] == [4, 4, 3]


def _run(cmd):
    done = subprocess.run(cmd, env=subprocess_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.mark.slow
@pytest.mark.parametrize("augment", [False, True], ids=["one-sampling", "augment-features"])
def test_two_processes_match_one(tgif_data, tmp_path, augment):
    script = os.path.join(REPO, "examples", "tgif_qa.py")
    one, two = tmp_path / "one", tmp_path / "two"
    flags = dict(FLAGS)
    if augment:  # every process trains each epoch on the same one of the files
        flags["augment_features"] = another_sampling(tgif_data["features"], tmp_path / "s1.h5", 1)
    _run([sys.executable, script, *cli_flags(tgif_data, one, **flags)])
    _run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            script,
            *cli_flags(tgif_data, two, **flags),
        ]
    )

    m1, m2 = (json.loads((d / "metrics.json").read_text()) for d in (one, two))
    assert m1["num_questions"] == m2["num_questions"]
    for split in ("val", "test"):
        assert m2[split]["count"] == m1[split]["count"]  # each record evaluated once, none padded
        assert m2[split]["accuracy"] == pytest.approx(m1[split]["accuracy"], abs=1e-9)
        assert m2[split]["loss"] == pytest.approx(m1[split]["loss"], rel=1e-4, abs=1e-5)
    l1, l2 = (
        [json.loads(l) for l in (d / "log.jsonl").read_text().splitlines()] for d in (one, two)
    )
    assert [r["step"] for r in l1] == [r["step"] for r in l2] == [2, 4]
    assert [r.get("features") for r in l1] == [r.get("features") for r in l2]
    if augment:  # two epochs, two files: one cycle reads each once
        assert {r["features"] for r in l2} == {tgif_data["features"], flags["augment_features"]}
    for a, b in zip(l1, l2):
        assert b["train"]["count"] == a["train"]["count"] == 24
        assert b["train"]["loss"] == pytest.approx(a["train"]["loss"], rel=1e-4, abs=1e-5)
    w1, w2 = (load_checkpoint(str(d / "last.pt"))["model_state"] for d in (one, two))
    assert set(w1) == set(w2)
    for k in w1:
        torch.testing.assert_close(w2[k], w1[k], rtol=1e-4, atol=1e-5, msg=k)
    # only rank 0 wrote files: one log line per epoch, one TensorBoard event file
    assert len(l2) == 2
    if importlib.util.find_spec("tensorboard") is not None:
        assert len(list((two / "tb").glob("events.out.tfevents.*"))) == 1
