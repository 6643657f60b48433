"""What models rely on: permutation importance, coefficients, event-order and event-type drops, per-customer reasons."""
