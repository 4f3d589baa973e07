"""Search spaces, tuning, evaluation and the model registry (tune, evaluate, register)."""
