from typing import Optional

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence


class QuestionEncoder(nn.Module):
    r"""Word embeddings and a bidirectional LSTM; the question vector is the
    concatenation of the last layer's final hidden states of both directions.

    Sequences are packed, so padding never changes the result.

    Args:
        vocab_size (int): Number of tokens; index 0 is padding.
        word_dim (int, optional): Embedding size. (default: :obj:`300`)
        out_channels (int, optional): Size of the question vector (each
            direction has half of it). (default: :obj:`512`)
        num_layers (int, optional): LSTM layers. (default: :obj:`3`)
        dropout (float, optional): Dropout on embeddings and between layers.
            (default: :obj:`0.1`)
        glove (torch.Tensor, optional): Initial embedding matrix
            ``[vocab_size, word_dim]``. (default: :obj:`None`)
    """

    def __init__(
        self,
        vocab_size: int,
        word_dim: int = 300,
        out_channels: int = 512,
        num_layers: int = 3,
        dropout: float = 0.1,
        glove: Optional[Tensor] = None,
    ):
        super().__init__()
        if out_channels % 2:
            raise ValueError(f"out_channels must be even (two directions), got {out_channels}")
        self.embedding = nn.Embedding(vocab_size, word_dim, padding_idx=0)
        self.dropout = nn.Dropout(dropout)
        self.lstm = nn.LSTM(
            word_dim,
            out_channels // 2,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.out_channels = out_channels
        if glove is not None:
            if tuple(glove.shape) != (vocab_size, word_dim):
                raise ValueError(
                    f"glove matrix has shape {list(glove.shape)}, expected "
                    f"[{vocab_size}, {word_dim}]"
                )
            with torch.no_grad():
                self.embedding.weight.copy_(glove)

    def forward(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        """``tokens`` ``[B, L]``, ``lengths`` ``[B]`` -> ``[B, out_channels]``."""
        embedded = self.dropout(self.embedding(tokens))
        packed = pack_padded_sequence(
            embedded, lengths.cpu().clamp(min=1), batch_first=True, enforce_sorted=False
        )
        _, (hidden, _) = self.lstm(packed)
        return torch.cat([hidden[-2], hidden[-1]], dim=-1)
