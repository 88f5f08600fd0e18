import dataclasses

import h5py
import numpy as np
import pytest
import torch

from mspan_pyg.data import (
    AnswerVocabulary,
    FeatureStore,
    VideoQADataset,
    Vocabulary,
    collate,
    make_loader,
    tokenize,
)
from mspan_pyg.data import datasets as datasets_module
from mspan_pyg.data.annotations import QARecord
from mspan_pyg.data.datasets import loader_workers
from mspan_pyg.errors import ConfigError, DataError

V, N, DA, DM = 6, 4, 5, 3


@pytest.fixture
def store(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "f.h5"
    with h5py.File(path, "w") as f:
        f["appearance"] = rng.standard_normal((V, N, DA)).astype(np.float16)
        f["motion"] = rng.standard_normal((V, N, DM)).astype(np.float32)
        f.create_dataset("ids", data=[f"g{i}" for i in range(V)], dtype=h5py.string_dtype())
    return FeatureStore(path)


def mc_records(n=10):
    words = ["jump", "run fast", "sit down now", "wave", "a b c d e"]
    return [
        QARecord(
            video_id=f"g{i % V}",
            question="what does the man do " * (1 + i % 3) + "?",
            answer=i % 5,
            candidates=words[i % 5 :] + words[: i % 5],
            qtype="action",
            key=i,
        )
        for i in range(n)
    ]


def open_records():
    qs = [
        ("what is it ?", "dog", "what"),
        ("who runs ?", "man", "who"),
        ("where is the cat sitting now ?", "sofa", "where"),
        ("what color ?", "zebra", "what"),
    ]
    return [
        QARecord(video_id=f"g{i}", question=q, answer=a, candidates=None, qtype=t, key=i)
        for i, (q, a, t) in enumerate(qs)
    ]


def test_multichoice_batch(store):
    records = mc_records()
    vocab = Vocabulary.from_records(records)
    ds = VideoQADataset(records, vocab, None, store, "multichoice")
    assert ds.qtype_names == ["action"]
    batch = collate(ds.__getitems__([4, 0, 2]))
    assert set(batch) == {
        "appearance",
        "motion",
        "question",
        "question_len",
        "candidates",
        "candidates_len",
        "video_len",
        "answer",
        "qtype",
        "index",
    }
    assert batch["appearance"].shape == (3, N, DA) and batch["appearance"].dtype == torch.float32
    assert batch["motion"].shape == (3, N, DM)
    lens = [len(vocab.encode(tokenize(records[i].question))) for i in (4, 0, 2)]
    assert batch["question_len"].tolist() == lens and batch["question"].shape == (3, max(lens))
    assert batch["question"].dtype == torch.long
    assert (batch["question"][1, lens[1] :] == 0).all()  # padding
    assert batch["candidates"].shape == (3, 5, 5) and batch["candidates"].dtype == torch.long
    assert batch["candidates_len"][0].tolist() == [5, 1, 2, 3, 1]  # words rotated by 4
    assert batch["answer"].tolist() == [4, 0, 2] and batch["answer"].dtype == torch.long
    assert batch["index"].tolist() == [4, 0, 2] and batch["qtype"].tolist() == [0, 0, 0]
    assert batch["video_len"] is None
    expected_a, _ = store.get([4, 0, 2])
    assert torch.equal(batch["appearance"], expected_a)
    single = ds[4]
    assert torch.equal(single["appearance"], batch["appearance"][0])


def test_open_batch_oov_answers_and_qtypes(store):
    records = open_records()
    vocab = Vocabulary.from_records(records)
    answers = AnswerVocabulary.build(records[:3])  # "zebra" unseen in training
    ds = VideoQADataset(records, vocab, answers, store, "open")
    assert ds.qtype_names == ["what", "who", "how", "when", "where", "other"]
    batch = collate([ds[i] for i in range(4)])
    assert batch["answer"].tolist() == [
        answers.encode("dog"),
        answers.encode("man"),
        answers.encode("sofa"),
        -1,
    ]
    assert batch["qtype"].tolist() == [0, 1, 4, 0]
    assert batch["candidates"] is None and batch["candidates_len"] is None


def test_count_answers_are_float(store):
    records = [
        QARecord(
            video_id="g1", question="how many ?", answer=3, candidates=None, qtype="count", key=0
        )
    ]
    ds = VideoQADataset(records, Vocabulary.from_records(records), None, store, "count")
    batch = collate([ds[0]])
    assert batch["answer"].dtype == torch.float32 and batch["answer"].tolist() == [3.0]


def test_missing_videos_raise_or_skip(store):
    records = open_records() + [
        QARecord(
            video_id="nope", question="q ?", answer="dog", candidates=None, qtype="what", key=9
        )
    ]
    vocab, answers = Vocabulary.from_records(records), AnswerVocabulary.build(records)
    with pytest.raises(DataError, match="1 of 5 question videos have no features.*'nope'"):
        VideoQADataset(records, vocab, answers, store, "open")
    with pytest.warns(UserWarning, match="skipped 1 question"):
        ds = VideoQADataset(records, vocab, answers, store, "open", skip_missing=True)
    assert len(ds) == 4
    with pytest.raises(ConfigError, match="unknown head"):
        VideoQADataset(records, vocab, answers, store, "opn")


def _batches(loader):
    return [{k: v for k, v in b.items()} for b in loader]


def test_loader_workers_match_single_process(store):
    records = mc_records(23)
    ds = VideoQADataset(records, Vocabulary.from_records(records), None, store, "multichoice")
    serial = _batches(make_loader(ds, batch_size=4, shuffle=True, seed=5))
    parallel = _batches(make_loader(ds, batch_size=4, shuffle=True, seed=5, num_workers=2))
    assert len(serial) == len(parallel) == 6
    assert sorted(i for b in serial for i in b["index"].tolist()) == list(range(23))
    assert serial[0]["index"].tolist() != list(range(4))  # shuffled
    for a, b in zip(serial, parallel):
        for key in a:
            assert (a[key] is None and b[key] is None) or torch.equal(a[key], b[key])
    other = _batches(make_loader(ds, batch_size=4, shuffle=True, seed=6))
    assert [b["index"].tolist() for b in other] != [b["index"].tolist() for b in serial]


def test_one_read_per_batch(store, monkeypatch):
    records = mc_records(8)
    ds = VideoQADataset(records, Vocabulary.from_records(records), None, store, "multichoice")
    calls = []
    original = store.get
    monkeypatch.setattr(
        store, "get", lambda rows, **kw: calls.append(list(rows)) or original(rows, **kw)
    )
    batches = list(make_loader(ds, batch_size=3, shuffle=False))
    assert len(batches) == 3 and len(calls) == 3 and calls[0] == [0, 1, 2]


def test_batch_equals_collated_samples(store):
    records = mc_records(10)
    vocab = Vocabulary.from_records(records)
    ds = VideoQADataset(records, vocab, None, store, "multichoice")
    indices = [7, 2, 2, 9, 0]
    batch = ds.__getitems__(indices)
    reference = collate([ds[i] for i in indices])
    assert collate(batch) is batch
    for key, value in reference.items():
        assert (value is None and batch[key] is None) or torch.equal(value, batch[key]), key
    # questions are padded to the batch's longest, not the dataset's
    assert batch["question"].shape[1] == int(batch["question_len"].max())
    words = [len(tokenize(c)) for c in records[7].candidates]
    assert batch["candidates_len"][0].tolist() == words


def test_batch_with_different_candidate_counts_is_an_error(store):
    records = mc_records(4)
    records[2] = dataclasses.replace(records[2], candidates=records[2].candidates[:3], answer=0)
    ds = VideoQADataset(records, Vocabulary.from_records(records), None, store, "multichoice")
    assert ds.__getitems__([2])["candidates"].shape[1] == 3
    with pytest.raises(DataError, match=r"questions \[2\] have \[3\], question 0 has 5"):
        ds.__getitems__([0, 2])


def test_workers_give_the_batches_of_no_workers(store, tmp_path, monkeypatch):
    records = mc_records(10)
    ds = VideoQADataset(records, Vocabulary.from_records(records), None, store, "multichoice")
    assert store.copies_only and loader_workers(ds, 2) == 0  # plain copies: no workers
    path = tmp_path / "lzf.h5"  # a compressed copy: decompression is worth workers
    with h5py.File(path, "w") as f, h5py.File(store.path, "r") as g:
        for name in ("appearance", "motion"):
            f.create_dataset(
                name, data=g[name][()], chunks=(1, N, g[name].shape[2]), compression="lzf"
            )
        f.create_dataset("ids", data=g["ids"][()], dtype=h5py.string_dtype())
    packed = FeatureStore(path)
    ds = VideoQADataset(records, Vocabulary.from_records(records), None, packed, "multichoice")
    assert not packed.copies_only and loader_workers(ds, 2, cores=4) == 2
    assert loader_workers(ds, 2, cores=3) == 0  # no core for them besides the main two
    ds.features.get([0])  # an open file in this process must not travel to the workers
    plain = list(make_loader(ds, batch_size=3, shuffle=True, seed=4))
    monkeypatch.setattr(datasets_module, "loader_workers", lambda ds, n, cores=None: n)
    workers = make_loader(ds, batch_size=3, shuffle=True, seed=4, num_workers=2)
    assert workers.num_workers == 2  # (this machine may have too few cores for the rule)
    workers = list(workers)
    assert len(plain) == len(workers) == 4
    for a, b in zip(plain, workers):
        assert all(torch.equal(a[k], b[k]) for k in a if a[k] is not None)
