"""Regression comparison against earlier runs."""
