import pytest
import torch

from mspan_pyg.data import AnswerVocabulary, Vocabulary, load_glove, tokenize
from mspan_pyg.data.annotations import QARecord
from mspan_pyg.errors import DataError


def rec(question, answer, candidates=None, video="v"):
    return QARecord(
        video_id=video, question=question, answer=answer, candidates=candidates, qtype="what", key=0
    )


def test_tokenize():
    assert tokenize("What's the MAN's dog doing, again?") == [
        "what",
        "'s",
        "the",
        "man",
        "'s",
        "dog",
        "doing",
        ",",
        "again",
        "?",
    ]
    assert tokenize("ｃａｔ  runs!") == ["cat", "runs", "!"]


def test_vocabulary_build_encode_min_count_and_roundtrip():
    records = [
        rec("the dog runs ?", 0, ["jump high", "sit", "sit", "a", "b"]),
        rec("the cat runs ?", 1, ["jump", "x", "y", "z", "w"]),
    ]
    vocab = Vocabulary.from_records(records)
    assert vocab.itos[:2] == ["<pad>", "<unk>"]
    for word in ("the", "dog", "cat", "?", "jump", "high", "sit", "w"):
        assert word in vocab
    # most frequent first, ties alphabetical: '?', 'jump', 'runs', 'sit', 'the' appear twice
    assert vocab.itos[2:7] == ["?", "jump", "runs", "sit", "the"]
    assert vocab.encode(["the", "zebra"]) == [vocab.stoi["the"], 1]
    small = Vocabulary.from_records(records, min_count=2)
    assert "dog" not in small and "the" in small and small.encode(["dog"]) == [1]
    again = Vocabulary.from_dict(vocab.to_dict())
    assert again == vocab and again.stoi == vocab.stoi
    with pytest.raises(DataError):
        Vocabulary.from_dict({"itos": ["a", "b"]})


def test_answer_vocabulary_topk_ties_and_oov():
    answers = ["dog"] * 3 + ["cat"] * 2 + ["ant"] * 2 + ["bee"]
    train = [rec("q", a) for a in answers]
    vocab = AnswerVocabulary.build(train, top_k=2)
    assert vocab.itos == ["dog", "ant"]  # ant/cat tie at 2 -> alphabetical
    assert vocab.encode("dog") == 0 and vocab.encode("cat") == -1
    kept = vocab.filter_training(train)
    assert [r.answer for r in kept] == ["dog"] * 3 + ["ant"] * 2
    full = AnswerVocabulary.build(train)  # FrameQA: every training answer
    assert len(full) == 4 and full.encode("bee") == 3
    assert AnswerVocabulary.from_dict(vocab.to_dict()) == vocab
    # the order does not depend on record order
    assert AnswerVocabulary.build(list(reversed(train)), top_k=2) == vocab


def _vocab(*words):
    return Vocabulary(words)


def test_glove_multiword_tokens_and_coverage(tmp_path):
    path = tmp_path / "g.txt"
    path.write_text(
        "the 1.0 2.0 3.0\n"
        ". . . 4.0 5.0 6.0\n"  # token with spaces
        "Dog 7.0 8.0 9.0\n"  # cased: used for 'dog' (no exact match)
        "dog 0.5 0.5 0.5\n"  # exact match wins
        "Cat -1 -2 -3\n"
        "unused 9 9 9\n",
        encoding="utf-8",
    )
    vocab = _vocab("the", ". . .", "dog", "cat", "missing")
    w, coverage = load_glove(path, vocab, dim=3, seed=1)
    assert w.shape == (7, 3) and w.dtype == torch.float32
    assert torch.equal(w[0], torch.zeros(3))
    assert w[vocab.stoi["the"]].tolist() == [1, 2, 3]
    assert w[vocab.stoi[". . ."]].tolist() == [4, 5, 6]
    assert w[vocab.stoi["dog"]].tolist() == [0.5, 0.5, 0.5]
    assert w[vocab.stoi["cat"]].tolist() == [-1, -2, -3]
    assert coverage == pytest.approx(4 / 5)
    miss = w[vocab.stoi["missing"]]
    assert miss.abs().max() < 1.0 and miss.abs().sum() > 0
    w2, _ = load_glove(path, vocab, dim=3, seed=1)
    assert torch.equal(w, w2)  # seeded


@pytest.mark.parametrize(
    "bad_line,line_no", [("dog 1.0 2.0", 2), ("dog 1.0 2.0 3.0 4.0", 2), ("dog 1.0 x 3.0", 2)]
)
def test_glove_ragged_lines(tmp_path, bad_line, line_no):
    path = tmp_path / "g.txt"
    path.write_text(f"the 1.0 2.0 3.0\n{bad_line}\nend 1 1 1\n")
    with pytest.raises(DataError) as e:
        load_glove(path, _vocab("the", "dog"), dim=3)
    assert f"{path}, line {line_no}" in str(e.value)


def test_glove_wrong_dim_hint_and_missing_file(tmp_path):
    path = tmp_path / "g.txt"
    path.write_text("the 1.0 2.0\n")
    with pytest.raises(DataError, match="pass dim=2"):
        load_glove(path, _vocab("the"), dim=300)
    with pytest.raises(DataError, match="not found"):
        load_glove(tmp_path / "nope.txt", _vocab("the"), dim=3)
