"""Inverse RL: the mirror stimuli function and max-margin IRL (Alg. 1)."""
