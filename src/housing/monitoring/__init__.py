"""Production monitoring with NannyML, the traffic simulator and the retrain rule (monitor)."""
