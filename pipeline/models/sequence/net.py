"""The torch module behind `SequenceClassifier`: event embedding + sequence cell + MLP head.

Per step, the event-type embedding is concatenated with the numeric channels; a recurrent cell
(LSTM, GRU or plain RNN) runs over packed variable-length sequences and its last real state is
kept, or the "transformer" cell (attention.py) encodes the steps and mean-pools them. That state is
joined with the static features and fed to an MLP with batch norm that outputs one logit.
"""
from __future__ import annotations

import logging

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from pipeline.models.sequence.attention import EventTransformer
from pipeline.models.sequence.cell_names import RECURRENT_CELLS

log = logging.getLogger(__name__)

RECURRENT = dict(zip(RECURRENT_CELLS, (nn.RNN, nn.LSTM, nn.GRU)))


def make_cell(cell: str, input_size: int, hidden_size: int, num_layers: int,
              bidirectional: bool, dropout: float) -> nn.RNNBase:
    """Build the recurrent layer; dropout applies between stacked layers only (torch warns otherwise)."""
    if cell not in RECURRENT:
        raise ValueError(f"recurrent cell must be one of {list(RECURRENT)}, got {cell!r}.")
    return RECURRENT[cell](input_size, hidden_size, num_layers=num_layers, batch_first=True,
                           bidirectional=bidirectional, dropout=dropout if num_layers > 1 else 0.0)


class SequenceNet(nn.Module):
    """Embedding(type) ++ values -> packed RNN (last state) or Transformer (mean) ++ static -> MLP -> logit.

    `max_len` sizes the transformer's positional embedding; `bidirectional` applies to recurrent cells only.
    """

    def __init__(self, n_types: int, n_channels: int, n_static: int, *, cell: str = "lstm",
                 hidden_size: int = 64, num_layers: int = 1, bidirectional: bool = False,
                 embedding_dim: int = 16, dropout: float = 0.1, mlp_hidden: int = 64, max_len: int = 64):
        super().__init__()
        self.embedding = nn.Embedding(n_types, embedding_dim, padding_idx=0)
        if cell == "transformer":
            self.encoder = EventTransformer(embedding_dim + n_channels, hidden_size, num_layers, max_len, dropout)
            state_size = self.encoder.width
        else:
            self.rnn = make_cell(cell, embedding_dim + n_channels, hidden_size, num_layers,
                                 bidirectional, dropout)
            state_size = hidden_size * (2 if bidirectional else 1)
        # Customers without events have no sequence state: they get this learned vector instead.
        self.no_events = nn.Parameter(torch.zeros(state_size))
        self.head = nn.Sequential(
            nn.Linear(state_size + n_static, mlp_hidden),
            nn.BatchNorm1d(mlp_hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(mlp_hidden, 1),
        )

    def last_state(self, types: torch.Tensor, values: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """One state per customer, [B, state]: the recurrent cell's final hidden state of the last layer, or the
        transformer's pooled encoding; customers without events get `no_events`. `lengths` lives on CPU."""
        steps = torch.cat([self.embedding(types), values.to(self.no_events.dtype)], dim=-1)
        state = self.encoder(steps, lengths) if hasattr(self, "encoder") else self._recurrent_state(steps, lengths)
        empty = (lengths == 0).to(state.device).unsqueeze(1)
        return torch.where(empty, self.no_events.to(state.dtype), state)

    def _recurrent_state(self, steps: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Final hidden state of the last layer, [B, dirs * hidden]."""
        # pack_padded_sequence rejects length 0: run those rows over one (padding) step; last_state replaces them.
        packed = pack_padded_sequence(steps, lengths.clamp(min=1), batch_first=True, enforce_sorted=False)
        _, h_n = self.rnn(packed)
        if isinstance(h_n, tuple):  # LSTM returns (h_n, c_n)
            h_n = h_n[0]
        # h_n is [layers * dirs, B, H] and, with enforce_sorted=False, already in the caller's row order.
        dirs = 2 if self.rnn.bidirectional else 1
        last = h_n.view(self.rnn.num_layers, dirs, h_n.shape[1], h_n.shape[2])[-1]
        return last.permute(1, 0, 2).reshape(h_n.shape[1], dirs * h_n.shape[2])

    def forward(self, types: torch.Tensor, values: torch.Tensor, lengths: torch.Tensor,
                static: torch.Tensor) -> torch.Tensor:
        """One logit per customer, shape [B]."""
        state = self.last_state(types, values, lengths)
        joined = torch.cat([state, static.to(state.dtype)], dim=1)
        return self.head(joined).squeeze(1)
