"""The sequence model's cells by name, in a module without torch: params, the cells stage and the report
name them from here (pipeline/models/sequence/net.py builds them)."""
RECURRENT_CELLS = ("rnn", "lstm", "gru")   # the order the cells stage and the report show them in
CELLS = (*RECURRENT_CELLS, "transformer")
GATED = ("lstm", "gru")          # the cells whose gates keep gradients from vanishing over long sequences
LABELS = {"rnn": "plain RNN", "lstm": "LSTM", "gru": "GRU", "transformer": "Transformer"}
