"""Vicino's machine-learning library: pure PyTorch and numpy, no Django import.

The feature schema, layers, RALM, DIN, ETA, DSSM, losses, metrics, ANN index and training loops live
here, so they can be trained, tested and benchmarked without the web application. Apps reach it
through `matching/`.
"""
