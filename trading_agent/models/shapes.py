"""The price model's input contract, shared by the feature builder and the model without
making either import the other (the model loads without pandas; the features without torch)."""
from __future__ import annotations

WINDOW = 60  # trading days per input window, oldest first
FEATURE_NAMES: tuple[str, ...] = (
    "log_return", "abs_log_return", "mean_return_5d", "mean_return_20d", "vol_5d", "vol_20d",
    "vol_60d", "log_high_low", "log_close_open", "log_gap", "log_volume_change", "volume_z_20d",
    "rsi_14d", "log_close_to_max_20d", "log_close_to_sma_50d",
)
N_FEATURES = len(FEATURE_NAMES)  # 15
