"""Readers for check-in data sets on disk (pure numpy, no Django): see `ml.datasets.checkins`."""

from ml.datasets.checkins import CheckinLog, DatasetLayoutError, checkin_log_read

__all__ = ["CheckinLog", "DatasetLayoutError", "checkin_log_read"]
