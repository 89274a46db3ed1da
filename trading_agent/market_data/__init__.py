"""Market data handling: ticks in, top of book, VWAP and time bars out."""
