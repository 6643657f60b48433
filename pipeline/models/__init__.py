"""Model families: one module per family declaring every trait (family.py), the registry that lists them, the model store."""
