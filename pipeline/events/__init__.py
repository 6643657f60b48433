"""The event log per customer: grouping in time order, aggregates, the padded sequence type and its encoder, perturbations."""
