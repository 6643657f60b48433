"""The encoder CoLES trains: event-type embedding ++ value channels -> GRU -> the last hidden state.

A GRU because it is the cell CoLES and pytorch-lifestream use, and EBES (2025) found it at least as
good as a Transformer on event sequences. Rows are independent in eval mode (no batch norm, packed
sequences), so a customer's embedding does not depend on who else is in the batch.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence


class EncoderNet(nn.Module):
    def __init__(self, n_types: int, n_channels: int, type_dim: int, hidden_size: int):
        super().__init__()
        self.embedding = nn.Embedding(n_types, type_dim, padding_idx=0)
        self.rnn = nn.GRU(type_dim + n_channels, hidden_size, batch_first=True)

    def forward(self, types: torch.Tensor, values: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """[B, hidden]; a customer without events gets zeros (lengths stay on the CPU)."""
        steps = torch.cat([self.embedding(types), values], dim=-1)
        packed = pack_padded_sequence(steps, lengths.clamp(min=1), batch_first=True, enforce_sorted=False)
        _, h_n = self.rnn(packed)
        state = h_n[-1]
        return torch.where((lengths == 0).unsqueeze(1), torch.zeros_like(state), state)
