"""Evaluators: F_accuracy by proxy training, and network costs (latency)."""
