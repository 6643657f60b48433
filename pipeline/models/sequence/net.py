"""The torch module behind `SequenceClassifier`: event embedding + recurrent cell + MLP head.

Per step, the event-type embedding is concatenated with the numeric channels; a recurrent cell
(LSTM, GRU or plain RNN) runs over packed variable-length sequences; its last real state is
joined with the static features and fed to an MLP with batch norm that outputs one logit.
"""
from __future__ import annotations

import logging

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

log = logging.getLogger(__name__)

CELLS = ("lstm", "gru", "rnn")


def make_cell(cell: str, input_size: int, hidden_size: int, num_layers: int,
              bidirectional: bool, dropout: float) -> nn.RNNBase:
    """Build the recurrent layer; dropout applies between stacked layers only (torch warns otherwise)."""
    classes = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}
    if cell not in classes:
        raise ValueError(f"cell must be one of {list(CELLS)}, got {cell!r}.")
    return classes[cell](input_size, hidden_size, num_layers=num_layers, batch_first=True,
                         bidirectional=bidirectional, dropout=dropout if num_layers > 1 else 0.0)


class SequenceNet(nn.Module):
    """Embedding(type) ++ values -> packed RNN -> last state ++ static -> MLP -> logit."""

    def __init__(self, n_types: int, n_channels: int, n_static: int, *, cell: str = "lstm",
                 hidden_size: int = 64, num_layers: int = 1, bidirectional: bool = False,
                 embedding_dim: int = 16, dropout: float = 0.1, mlp_hidden: int = 64):
        super().__init__()
        self.embedding = nn.Embedding(n_types, embedding_dim, padding_idx=0)
        self.rnn = make_cell(cell, embedding_dim + n_channels, hidden_size, num_layers,
                             bidirectional, dropout)
        state_size = hidden_size * (2 if bidirectional else 1)
        # Customers without events have no recurrent state: they get this learned vector instead.
        self.no_events = nn.Parameter(torch.zeros(state_size))
        self.head = nn.Sequential(
            nn.Linear(state_size + n_static, mlp_hidden),
            nn.BatchNorm1d(mlp_hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(mlp_hidden, 1),
        )

    def last_state(self, types: torch.Tensor, values: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Final hidden state of the last layer per customer, [B, dirs * hidden]; `lengths` lives on CPU."""
        steps = torch.cat([self.embedding(types), values.to(self.no_events.dtype)], dim=-1)
        # pack_padded_sequence rejects length 0: run those rows over one (padding) step and mask them below.
        packed = pack_padded_sequence(steps, lengths.clamp(min=1), batch_first=True, enforce_sorted=False)
        _, h_n = self.rnn(packed)
        if isinstance(h_n, tuple):  # LSTM returns (h_n, c_n)
            h_n = h_n[0]
        # h_n is [layers * dirs, B, H] and, with enforce_sorted=False, already in the caller's row order.
        dirs = 2 if self.rnn.bidirectional else 1
        last = h_n.view(self.rnn.num_layers, dirs, h_n.shape[1], h_n.shape[2])[-1]
        state = last.permute(1, 0, 2).reshape(h_n.shape[1], dirs * h_n.shape[2])
        empty = (lengths == 0).to(state.device).unsqueeze(1)
        return torch.where(empty, self.no_events.to(state.dtype), state)

    def forward(self, types: torch.Tensor, values: torch.Tensor, lengths: torch.Tensor,
                static: torch.Tensor) -> torch.Tensor:
        """One logit per customer, shape [B]."""
        state = self.last_state(types, values, lengths)
        joined = torch.cat([state, static.to(state.dtype)], dim=1)
        return self.head(joined).squeeze(1)
