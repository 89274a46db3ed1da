"""Risk engine: VaR (historical, parametric, Monte Carlo)."""
