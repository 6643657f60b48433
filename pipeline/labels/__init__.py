"""Targets built from the event log, point in time (params `label`, DESIGN.md leakage rule 5).

At a cutoff T a customer's features come from events strictly before T, and the label from the
qualifying events in [T, T + horizon_days) and from nothing else:
  churn   1 when the customer has no qualifying event in the window
  repeat  1 when the customer has at least one
  event   1 when an event of label.event_types occurs (the types are required)
Only customers with qualifying history before T are scored (outcome.py says which and why).
`window` resolves and checks the cutoffs, `outcome` labels the customers at one cutoff.
"""
