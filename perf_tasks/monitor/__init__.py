"""Resource sampling (psutil) and the environment fingerprint."""
