"""Feature engineering as scikit-learn transformers (the featurize stage)."""
