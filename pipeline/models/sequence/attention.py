"""The "transformer" cell of `SequenceNet`: a small Transformer encoder over a customer's events.

Each step (type embedding ++ value channels) is projected to d_model, given a learned embedding of
its position COUNTED BACK from the most recent event (sequences are left-aligned with `lengths`, so
counting from the end makes position 0 "the latest event" for every customer, whatever its length),
encoded by `nn.TransformerEncoder` with the padding masked out, and mean-pooled over the real events.
Attention sees the whole sequence at once, so `bidirectional` does not apply to this cell.
"""
from __future__ import annotations

import torch
from torch import nn

HEADS = 4            # attention heads; d_model is hidden_size rounded up to a multiple of this
FEEDFORWARD = 2      # feed-forward width as a multiple of d_model: small, CPU-friendly


def model_width(hidden_size: int, heads: int = HEADS) -> int:
    """hidden_size rounded up to a multiple of `heads` (attention splits d_model evenly across heads)."""
    return -(-hidden_size // heads) * heads


class EventTransformer(nn.Module):
    """[B, T, input] steps + lengths -> [B, width] masked mean of the encoded real steps."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int, max_len: int, dropout: float):
        super().__init__()
        self.width = model_width(hidden_size)
        self.project = nn.Linear(input_size, self.width)
        self.position = nn.Embedding(max_len, self.width)
        layer = nn.TransformerEncoderLayer(self.width, HEADS, dim_feedforward=FEEDFORWARD * self.width,
                                           dropout=dropout, batch_first=True, norm_first=True)
        # Pre-norm trains stably without learning-rate warm-up; nested tensors are off because torch
        # cannot use them with pre-norm and warns at every construction when asked to.
        self.encoder = nn.TransformerEncoder(layer, num_layers, norm=nn.LayerNorm(self.width),
                                             enable_nested_tensor=False)

    def forward(self, steps: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Length-0 rows attend to their one padding step (an all-masked row would give NaN in softmax);
        the caller replaces their state with its learned `no_events` vector."""
        real = lengths.to(steps.device).clamp(min=1)
        t = torch.arange(steps.shape[1], device=steps.device)
        pad = t[None, :] >= real[:, None]                                   # True = padding, ignored by attention
        back = (real[:, None] - 1 - t[None, :]).clamp(0, self.position.num_embeddings - 1)   # 0 = latest event
        encoded = self.encoder(self.project(steps) + self.position(back), src_key_padding_mask=pad)
        keep = (~pad).unsqueeze(-1).to(encoded.dtype)
        return (encoded * keep).sum(dim=1) / keep.sum(dim=1)
