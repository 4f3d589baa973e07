"""Loading, validating and splitting the California Housing data (the prepare stage)."""
