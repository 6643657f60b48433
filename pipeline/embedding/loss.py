"""CoLES's contrastive objective: the softmax (InfoNCE) loss over a batch of slices.

Each slice's positives are the other slices of its customer, its negatives every slice of every other
customer in the batch; embeddings are L2-normalised, so the dot product is a cosine in [-1, 1]. This is
pytorch-lifestream's SoftmaxLoss, vectorised: for each (anchor, positive) pair the loss is the negative
log-probability of the positive among {positive} + all the anchor's negatives.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def softmax_contrastive(embeddings: torch.Tensor, owner: torch.Tensor, temperature: float) -> torch.Tensor:
    z = F.normalize(embeddings, dim=1)
    sim = z @ z.T / temperature
    same = owner.unsqueeze(0) == owner.unsqueeze(1)
    negatives = torch.logsumexp(sim.masked_fill(same, float("-inf")), dim=1)      # [V]
    pairs = same & ~torch.eye(len(owner), dtype=torch.bool, device=owner.device)
    anchor, positive = pairs.nonzero(as_tuple=True)
    logits = sim[anchor, positive]
    return (torch.logaddexp(logits, negatives[anchor]) - logits).mean()
