"""Joining a question with each of its answer candidates into one token sequence: the query
of the ``question+candidate`` multiple-choice mode (NExT-QA's HGA/HCRN baselines encode
"question candidate" as one sentence per candidate)."""

from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from mspan_pyg.tasks import MC_QUERIES

__all__ = ["MC_QUERIES", "join_question_candidates"]


def join_question_candidates(
    question: Tensor, question_len: Tensor, candidates: Tensor, candidates_len: Tensor
) -> Tuple[Tensor, Tensor]:
    r"""The question followed by each candidate, without the padding between them.

    Args:
        question (torch.Tensor): Token ids ``[B, L]``, 0-padded.
        question_len (torch.Tensor): ``[B]``.
        candidates (torch.Tensor): Token ids ``[B, R, La]``, 0-padded.
        candidates_len (torch.Tensor): ``[B, R]``.

    Returns:
        The joined token ids ``[B, R, L + La]`` (0-padded) and their lengths ``[B, R]``.
    """
    B, L = question.shape
    R, La = candidates.shape[1], candidates.shape[2]
    width = L + La
    pos = torch.arange(width, device=question.device).view(1, 1, width)
    q_len = question_len.view(B, 1, 1).to(pos.device)
    c_len = candidates_len.view(B, R, 1).to(pos.device)
    # Position p holds question[p] before the question ends, then candidate[p - q_len].
    from_question = F.pad(question, (0, La)).unsqueeze(1).expand(B, R, width)
    c_index = (pos - q_len).clamp(0, La - 1).expand(B, R, width)
    from_candidate = candidates.gather(2, c_index)
    joined = torch.where(pos < q_len, from_question, from_candidate)
    joined = joined.masked_fill(pos >= q_len + c_len, 0)
    return joined, (q_len + c_len).view(B, R)
