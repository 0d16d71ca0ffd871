"""Experiment entry point, configs and jobs of irlas-jax."""
