"""Offline tokenizer, question vocabulary and answer vocabulary."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from typing import Dict, Iterable, List, Optional, Sequence, Union

from ..errors import DataError
from .annotations import QARecord

PAD, UNK = "<pad>", "<unk>"
PAD_INDEX, UNK_INDEX = 0, 1

# a word, a clitic such as 's / 't, or one punctuation character
_TOKEN = re.compile(r"\w+|'\w+|[^\w\s]")


def tokenize(text: str) -> List[str]:
    """Lowercase, NFKC-normalise and split into words and punctuation (no downloads).

    >>> tokenize("What is the man's dog doing ?")
    ['what', 'is', 'the', 'man', "'s", 'dog', 'doing', '?']
    """
    return _TOKEN.findall(unicodedata.normalize("NFKC", text).lower())


class Vocabulary:
    """Token <-> index map; index 0 is ``<pad>``, 1 is ``<unk>`` (every unseen token)."""

    def __init__(self, tokens: Iterable[str] = ()):
        self.itos: List[str] = [PAD, UNK]
        self.stoi: Dict[str, int] = {PAD: PAD_INDEX, UNK: UNK_INDEX}
        for t in tokens:
            self.add(t)

    def add(self, token: str) -> int:
        if token not in self.stoi:
            self.stoi[token] = len(self.itos)
            self.itos.append(token)
        return self.stoi[token]

    @classmethod
    def build(cls, token_lists: Iterable[Sequence[str]], min_count: int = 1) -> "Vocabulary":
        """Tokens seen at least ``min_count`` times, most frequent first (ties: alphabetical)."""
        counts = Counter(t for tokens in token_lists for t in tokens)
        counts.pop(PAD, None)
        counts.pop(UNK, None)
        kept = sorted(
            (t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t)
        )
        return cls(kept)

    @classmethod
    def from_records(cls, records: Iterable[QARecord], min_count: int = 1) -> "Vocabulary":
        """Build from (training) questions and, for multiple choice, their candidates."""

        def token_lists():
            for r in records:
                yield tokenize(r.question)
                for c in r.candidates or ():
                    yield tokenize(c)

        return cls.build(token_lists(), min_count=min_count)

    def encode(self, tokens: Sequence[str]) -> List[int]:
        return [self.stoi.get(t, UNK_INDEX) for t in tokens]

    def decode(self, indices: Iterable[int]) -> List[str]:
        return [self.itos[i] for i in indices if i != PAD_INDEX]

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocabulary) and self.itos == other.itos

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} tokens)"

    def to_dict(self) -> dict:
        return {"itos": list(self.itos)}

    @classmethod
    def from_dict(cls, state: dict) -> "Vocabulary":
        itos = state.get("itos") if isinstance(state, dict) else None
        if not isinstance(itos, list) or itos[:2] != [PAD, UNK]:
            raise DataError(
                "question vocabulary state must be {'itos': [...]} starting with "
                f"{PAD!r}, {UNK!r}"
            )
        if len(set(itos)) != len(itos):
            raise DataError("question vocabulary state has duplicate tokens")
        return cls(itos[2:])


class AnswerVocabulary:
    """Answer string <-> class index for open-ended questions.

    FrameQA uses every training answer (``top_k=None``); MSVD-QA / MSRVTT-QA the ``top_k``
    (customarily 1000) most frequent, ties broken alphabetically. :meth:`encode` maps an
    answer outside the vocabulary to -1 (always counted wrong).
    """

    def __init__(self, answers: Iterable[str] = ()):
        self.itos: List[str] = []
        self.stoi: Dict[str, int] = {}
        for a in answers:
            if a not in self.stoi:
                self.stoi[a] = len(self.itos)
                self.itos.append(a)

    @classmethod
    def build(cls, records: Iterable[QARecord], top_k: Optional[int] = None) -> "AnswerVocabulary":
        counts = Counter(str(r.answer) for r in records)
        ordered = sorted(counts, key=lambda a: (-counts[a], a))
        if top_k is not None:
            if top_k < 1:
                raise DataError(f"answer vocabulary size must be >= 1, got {top_k}")
            ordered = ordered[:top_k]
        return cls(ordered)

    def encode(self, answer: Union[str, int]) -> int:
        return self.stoi.get(str(answer), -1)

    def decode(self, index: int) -> str:
        return self.itos[index] if 0 <= index < len(self.itos) else UNK

    def filter_training(self, records: Iterable[QARecord]) -> List[QARecord]:
        """Training records whose answer is inside the vocabulary."""
        return [r for r in records if str(r.answer) in self.stoi]

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, answer) -> bool:
        return str(answer) in self.stoi

    def __eq__(self, other) -> bool:
        return isinstance(other, AnswerVocabulary) and self.itos == other.itos

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} answers)"

    def to_dict(self) -> dict:
        return {"itos": list(self.itos)}

    @classmethod
    def from_dict(cls, state: dict) -> "AnswerVocabulary":
        itos = state.get("itos") if isinstance(state, dict) else None
        if not isinstance(itos, list) or len(set(itos)) != len(itos):
            raise DataError("answer vocabulary state must be {'itos': [unique answers]}")
        return cls(itos)
