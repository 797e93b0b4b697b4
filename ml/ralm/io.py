"""RALM's model files: the generic safetensors + JSON sidecar format of `ml.io`, re-exported here so the
RALM package keeps one import path for its files (`from ml.ralm import save_model, load_model`)."""

from ml.io import ModelFileError, load_model, read_header, save_model, sidecar_path

__all__ = ["ModelFileError", "load_model", "read_header", "save_model", "sidecar_path"]
