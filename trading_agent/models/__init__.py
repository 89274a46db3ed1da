"""Neural models of the reference trading agent, and their benchmarks (spec §1.3 Model performance).

- :mod:`.features`: seeded windows of 15 market features (synthetic, or built from the real
  S&P 500 series shipped in ``arch``) with next-day return and direction targets.
- :mod:`.cnn_lstm`: the CNN+LSTM price model, input ``(batch, 60, 15)``.
- :mod:`.rl_agent`: a PPO actor-critic policy over 64 observation features, 3 discrete actions.
- :mod:`.training`: one optimiser step for either model (supervised loss, PPO clipped loss).
- :mod:`.checkpoint`: save and load a model as a state dict, TorchScript or ``torch.export`` file.
- :mod:`.device`: device choice (``auto``/``cpu``/``cuda``), synchronisation and the info dict.
- :mod:`.bench`: benchmark factories named in ``config/benchmarks.yaml``.

Importing this package does not import torch; the submodules do.
"""
