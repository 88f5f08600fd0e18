"""Streaming GloVe reader: keeps only the vectors of vocabulary words."""

from __future__ import annotations

import gzip
import math
import os
from typing import Tuple, Union

import torch

from ..errors import DataError
from .text import PAD_INDEX, UNK_INDEX, Vocabulary


def _open_text(path: str):
    if path.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, "r", encoding="utf-8", errors="replace")


def load_glove(
    path: Union[str, os.PathLike],
    vocab: Vocabulary,
    dim: int = 300,
    seed: int = 0,
    oov_std: float = 0.1,
) -> Tuple[torch.Tensor, float]:
    """Embedding matrix ``[len(vocab), dim]`` initialised from a GloVe text file.

    Each line is a token followed by ``dim`` space-separated values; the token may itself
    contain spaces (glove.840B), so the vector is the *last* ``dim`` fields. The file is
    streamed and only vocabulary words are parsed. An exact match wins over a
    case-insensitive one (glove.840B is cased, the vocabulary is lowercase).
    Words not found get ``N(0, oov_std²)`` vectors from a generator seeded with ``seed``;
    ``<pad>`` is all zeros. A line with fewer than ``dim`` values (or a vocabulary word
    with non-numeric, NaN or Inf values) raises :class:`DataError` naming the file and line.

    Returns ``(weights, coverage)``: coverage is the fraction of vocabulary words other
    than ``<pad>`` / ``<unk>`` that were found.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataError(f"{path}: GloVe file not found")
    exact, folded = {}, {}
    with _open_text(path) as f:
        for line_no, line in enumerate(f, start=1):
            line = line.rstrip()
            if not line:
                continue
            n_fields = line.count(" ") + 1
            if line_no == 1 and n_fields == 2 and all(x.isdigit() for x in line.split(" ")):
                continue  # word2vec-style "count dim" header
            if n_fields < dim + 1:
                hint = (
                    f"; is this a {n_fields - 1}-d file? pass dim={n_fields - 1} "
                    f"(--word-dim {n_fields - 1})"
                    if line_no == 1
                    else ""
                )
                raise DataError(
                    f"{path}, line {line_no}: {n_fields - 1} values after the "
                    f"token, expected {dim}{hint}"
                )
            if n_fields == dim + 1:
                token = line[: line.index(" ")]
            else:
                token = line.rsplit(" ", dim)[0]
                # a genuine multi-word token never ends in decimal numbers
                if all("." in x and _is_float(x) for x in token.split(" ")[1:]):
                    raise DataError(
                        f"{path}, line {line_no}: {n_fields - 1} values after the "
                        f"token {token.split(' ')[0]!r}, expected {dim}"
                    )
            if token in vocab.stoi:
                target, key = exact, token
            else:
                key = token.lower()
                if key not in vocab.stoi or key in folded:
                    continue
                target = folded
            fields = line.split(" ")[-dim:]
            try:
                vector = [float(x) for x in fields]
            except ValueError:
                bad = next(x for x in fields if not _is_float(x))
                raise DataError(
                    f"{path}, line {line_no}: non-numeric value {bad!r} in the vector of {token!r}"
                ) from None
            if not all(map(math.isfinite, vector)):  # checked like the features
                bad = next(x for x, v in zip(fields, vector) if not math.isfinite(v))
                raise DataError(
                    f"{path}, line {line_no}: NaN or Inf value in the vector of {token!r} ({bad!r})"
                )
            target[key] = vector
    generator = torch.Generator().manual_seed(seed)
    weights = torch.randn(len(vocab), dim, generator=generator) * oov_std
    weights[PAD_INDEX] = 0.0
    found = 0
    for i, word in enumerate(vocab.itos):
        vec = exact.get(word, folded.get(word))
        if vec is not None and i != PAD_INDEX:
            weights[i] = torch.tensor(vec)
            if i not in (PAD_INDEX, UNK_INDEX):
                found += 1
    total = max(len(vocab) - 2, 1)
    return weights, found / total


def _is_float(x: str) -> bool:
    try:
        float(x)
        return True
    except ValueError:
        return False
