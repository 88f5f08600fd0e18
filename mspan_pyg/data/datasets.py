"""Video QA dataset over QARecords + a FeatureStore, its collate function and loader."""

from __future__ import annotations

import os
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader, Dataset, Sampler

from ..errors import ConfigError, DataError
from ..tasks import FRAMEQA_TYPES, HEADS, VIDEOQA_TYPES
from .annotations import QARecord
from .features import FeatureStore
from .text import UNK_INDEX, AnswerVocabulary, Vocabulary, tokenize


def _encode(vocab: Vocabulary, text: str) -> torch.Tensor:
    ids = vocab.encode(tokenize(text)) or [UNK_INDEX]  # never an empty sequence
    return torch.tensor(ids, dtype=torch.long)


def _pad(sequences: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
    """Token sequences as one zero-padded matrix ``[len, longest]`` and their lengths."""
    lengths = torch.tensor([len(t) for t in sequences], dtype=torch.long)
    if not sequences:
        return torch.zeros(0, 1, dtype=torch.long), lengths
    return pad_sequence(list(sequences), batch_first=True, padding_value=0), lengths


def default_qtype_names(qtypes: Sequence[str]) -> List[str]:
    """Stable question-type list: the FrameQA or MSVD/MSRVTT table when the types fit it (so
    every split gets the same indices), else the sorted distinct types."""
    present = set(qtypes)
    for table in (FRAMEQA_TYPES, VIDEOQA_TYPES):
        if present <= set(table):
            return list(table)
    return sorted(present)


class VideoQADataset(Dataset):
    """Questions with their video features, encoded for the model.

    Args:
        records: the questions (see :func:`~mspan_pyg.data.read_tgif_qa`).
        question_vocab: encodes questions and candidates.
        answer_vocab: open-ended only (answers outside it get -1); ``None`` otherwise.
        features: where the videos' features are.
        head: the answer head, "open", "count" or "multichoice".
        qtype_names: question-type list (default :func:`default_qtype_names`); pass the
            training set's to keep indices equal across splits.
        skip_missing: drop (with a warning) questions whose video has no features instead
            of raising :class:`DataError`.

        features_dtype: the dtype of the features in a batch (``torch.float16`` keeps a
            half-precision file's values as they are, for the device to convert).
        pin_memory: put the batch's features in page-locked memory (for ``non_blocking``
            copies to a GPU).
        samplings: other feature files of the same videos (other frame samplings, same frames
            and dims); :meth:`use_sampling` switches between ``features`` (sampling 0) and them,
            e.g. one per training epoch.

    Indexing with a list (``dataset.__getitems__``, used by :class:`DataLoader`) returns the
    whole batch, stacked: the features of its videos from one read of the store, questions and
    candidates cut from matrices encoded once here. :func:`collate` passes it through.
    """

    def __init__(
        self,
        records: Sequence[QARecord],
        question_vocab: Vocabulary,
        answer_vocab: Optional[AnswerVocabulary],
        features: FeatureStore,
        head: str,
        qtype_names: Optional[Sequence[str]] = None,
        skip_missing: bool = False,
        features_dtype: torch.dtype = torch.float32,
        pin_memory: bool = False,
        samplings: Sequence[FeatureStore] = (),
    ):
        if head not in HEADS:
            raise ConfigError(f"unknown head {head!r}; valid: {', '.join(HEADS)}")
        if head == "open" and answer_vocab is None:
            raise ConfigError("open-ended questions need an answer vocabulary")
        records = list(records)
        missing = features.check_ids((r.video_id for r in records), skip_missing=True)
        if missing and not skip_missing:
            # name the first question that cannot be answered: its file and row
            first = next(r for r in records if r.video_id in missing)
            where = f"{first.source}, row {first.row}: " if first.source else ""
            videos = len({r.video_id for r in records})
            raise DataError(
                f"{where}video {first.video_id!r} has no features in {features.path} "
                f"({len(missing)} of {videos} question videos have no features, e.g. "
                f"{', '.join(map(repr, sorted(missing, key=str)[:5]))}; wrong feature file? "
                "--skip-missing / skip_missing=True drops their questions)"
            )
        if missing:
            before = len(records)
            records = [r for r in records if r.video_id not in missing]
            warnings.warn(
                f"{features.path}: skipped {before - len(records)} question(s) of "
                f"{len(missing)} video(s) without features",
                stacklevel=2,
            )
        self.records = list(records)
        self.head = head
        self.question_vocab = question_vocab
        self.answer_vocab = answer_vocab
        self.features = features
        self.features_dtype = features_dtype
        self.pin_memory = pin_memory
        self.qtype_names = (
            list(qtype_names)
            if qtype_names is not None
            else default_qtype_names([r.qtype for r in self.records])
        )
        qtype_index = {q: i for i, q in enumerate(self.qtype_names)}

        self.rows = features.rows(r.video_id for r in self.records)
        # (store, rows of the questions' videos in it) per sampling: the rows are looked up once
        # here, so switching samplings costs nothing per batch
        self.samplings = [(features, self.rows)] + [
            (store, self._sampling_rows(store)) for store in samplings
        ]
        self.questions, self.question_lens = _pad(
            [_encode(question_vocab, r.question) for r in self.records]
        )
        self.candidates = self.candidates_len = self.num_candidates = None
        answers, qtypes = [], []
        for r in self.records:
            if r.qtype not in qtype_index:
                raise DataError(
                    f"{r.source}, row {r.row}: question type {r.qtype!r} not in {self.qtype_names}"
                )
            qtypes.append(qtype_index[r.qtype])
            if head == "open":
                answers.append(answer_vocab.encode(r.answer))
            elif head == "count":
                answers.append(float(r.answer))
            else:
                if not r.candidates or not 0 <= int(r.answer) < len(r.candidates):
                    raise DataError(
                        f"{r.source}, row {r.row}: multiple-choice question needs "
                        "candidates and an answer index into them"
                    )
                answers.append(int(r.answer))
        if head == "multichoice":
            # [Q, R, Lc] with R the most candidates of any question; a batch keeps its own R
            self.num_candidates = torch.tensor([len(r.candidates) for r in self.records])
            most = int(self.num_candidates.max()) if self.records else 1
            empty = torch.zeros(0, dtype=torch.long)
            encoded = [[_encode(question_vocab, c) for c in r.candidates] for r in self.records]
            tokens, lens = _pad([c for cs in encoded for c in cs + [empty] * (most - len(cs))])
            self.candidates = tokens.view(len(self.records), most, -1)
            self.candidates_len = lens.view(len(self.records), most)
        dtype = torch.float32 if head == "count" else torch.long
        self.answers = torch.tensor(answers, dtype=dtype)
        self.qtypes = torch.tensor(qtypes, dtype=torch.long)

    def _sampling_rows(self, store: FeatureStore) -> np.ndarray:
        """The questions' rows in ``store``, another sampling of ``features``' videos: the same
        layout and every question video, else :class:`DataError` naming the file."""
        main = self.features
        for what, have, want in (
            ("frames per video", store.stored_frames, main.stored_frames),
            ("appearance dim", store.appearance_dim, main.appearance_dim),
            ("motion dim", store.motion_dim, main.motion_dim),
        ):
            if have != want:
                raise DataError(
                    f"{store.path}: {what} is {have} but {want} in {main.path}; another "
                    "sampling of the same videos needs the same layout"
                )
        missing = store.check_ids((r.video_id for r in self.records), skip_missing=True)
        if missing:
            raise DataError(
                f"{store.path}: {len(missing)} question video(s) with features in {main.path} "
                f"have none here, e.g. {', '.join(map(repr, sorted(missing, key=str)[:5]))}; "
                "another sampling needs every video of the questions"
            )
        return store.rows(r.video_id for r in self.records)

    @property
    def num_samplings(self) -> int:
        """The feature files this dataset can read: ``features`` and the ``samplings``."""
        return len(self.samplings)

    def use_sampling(self, index: int) -> None:
        """Read the next batches from sampling ``index`` (0: ``features``)."""
        self.features, self.rows = self.samplings[index]

    def __len__(self) -> int:
        return len(self.records)

    def __getitems__(self, indices: Sequence[int]) -> Dict[str, Optional[torch.Tensor]]:
        """The Batch dict of questions ``indices``: features read once for the whole batch,
        questions padded to the batch's longest, candidates to the batch's longest candidate."""
        index = torch.as_tensor(np.asarray(indices, dtype=np.int64).reshape(-1))
        appearance, motion = self.features.get(
            self.rows[index.numpy()], dtype=self.features_dtype, pin_memory=self.pin_memory
        )
        question_len = self.question_lens[index]
        longest = int(question_len.max()) if len(index) else 1
        batch = {
            "appearance": appearance,
            "motion": motion,
            "question": self.questions[index, :longest],
            "question_len": question_len,
            "candidates": None,
            "candidates_len": None,
            "video_len": None,
            "answer": self.answers[index],
            "qtype": self.qtypes[index],
            "index": index,
        }
        if self.candidates is not None and len(index):
            counts = self.num_candidates[index]
            num = int(counts[0])
            if (counts != num).any():
                raise DataError(
                    "every multiple-choice question in a batch needs the same number of "
                    f"candidates; questions {index[counts != num][:5].tolist()} have "
                    f"{counts[counts != num][:5].tolist()}, question {int(index[0])} has {num}"
                )
            lens = self.candidates_len[index, :num]
            batch["candidates"] = self.candidates[index, :num, : int(lens.max())]
            batch["candidates_len"] = lens
        return batch

    def __getitem__(self, index: int) -> Dict:
        """One question as a sample dict (unpadded tensors), the input of :func:`collate`."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} questions")
        i = index % len(self)
        batch = self.__getitems__([i])
        candidates = None
        if batch["candidates"] is not None:
            candidates = [c[:n] for c, n in zip(batch["candidates"][0], batch["candidates_len"][0])]
        return {
            "appearance": batch["appearance"][0],
            "motion": batch["motion"][0] if batch["motion"] is not None else None,
            "question": batch["question"][0, : int(batch["question_len"][0])],
            "candidates": candidates,
            "answer": batch["answer"][0],
            "qtype": batch["qtype"][0],
            "index": batch["index"][0],
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} questions, head={self.head!r})"


def collate(samples) -> Dict[str, Optional[torch.Tensor]]:
    """Batch samples (from ``VideoQADataset``) into the Batch dict of the model.

    Questions are padded with 0 to the longest in the batch; candidates to the longest
    candidate, giving ``[B, R, La]``. A Batch dict (``VideoQADataset.__getitems__``) is
    returned as it is.
    """
    if isinstance(samples, dict):
        return samples
    questions = [s["question"] for s in samples]
    batch = {
        "appearance": torch.stack([s["appearance"] for s in samples]),
        "motion": (
            torch.stack([s["motion"] for s in samples])
            if samples[0]["motion"] is not None
            else None
        ),
        "question": pad_sequence(questions, batch_first=True, padding_value=0),
        "question_len": torch.tensor([len(q) for q in questions], dtype=torch.long),
        "candidates": None,
        "candidates_len": None,
        "video_len": None,
        "answer": torch.stack([s["answer"] for s in samples]),
        "qtype": torch.stack([s["qtype"] for s in samples]),
        "index": torch.stack([s["index"] for s in samples]),
    }
    if samples[0]["candidates"] is not None:
        num = len(samples[0]["candidates"])
        if any(len(s["candidates"]) != num for s in samples):
            raise DataError(
                "every multiple-choice question in a batch needs the same number of candidates"
            )
        flat = [c for s in samples for c in s["candidates"]]
        batch["candidates"] = pad_sequence(flat, batch_first=True).view(len(samples), num, -1)
        batch["candidates_len"] = torch.tensor([len(c) for c in flat], dtype=torch.long).view(
            len(samples), num
        )
    return batch


def loader_workers(dataset, num_workers: int, cores: Optional[int] = None) -> int:
    """The worker processes worth starting for ``dataset`` (the batches are the same either way).

    None when its batches are plain copies (:attr:`FeatureStore.copies_only`): handing a batch
    over from a worker (shared memory, page faults) measured slower than reading it. For
    compressed files, whose decompression workers can share, ``num_workers`` when the process
    has a core for each worker besides two (the main process and the model's threads), else
    none: on 2 cores every worker setting measured slower than none (benchmarks/RESULTS.md).
    ``cores``: the CPUs this process may use (default: its affinity mask)."""
    store = getattr(dataset, "features", None)
    if num_workers == 0 or getattr(store, "copies_only", False):
        return 0
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return num_workers if num_workers + 2 <= (cores or 1) else 0


def make_loader(
    dataset: VideoQADataset,
    batch_size: int,
    shuffle: bool,
    num_workers: int = 0,
    pin_memory: bool = False,
    sampler: Optional[Sampler] = None,
    seed: int = 0,
    drop_last: bool = False,
) -> DataLoader:
    """A :class:`DataLoader` yielding Batch dicts, one feature read per batch.

    ``shuffle`` uses a generator seeded with ``seed`` (the same order for any
    ``num_workers``). With a ``sampler`` (e.g. ``DistributedSampler``) the sampler alone
    decides the order and ``shuffle`` is ignored. ``num_workers`` is what
    :func:`loader_workers` allows.
    """
    generator = torch.Generator().manual_seed(seed)
    num_workers = loader_workers(dataset, num_workers)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle if sampler is None else False,
        sampler=sampler,
        num_workers=num_workers,
        pin_memory=pin_memory,
        collate_fn=collate,
        drop_last=drop_last,
        generator=generator,
        persistent_workers=num_workers > 0,
    )
