"""What the train_* commands share: a new version's name and directory, registering (and activating) the
artefact, epoch progress bars and the result table. Not a command itself (the leading underscore)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from django.core.management.base import CommandError
from django.utils import timezone
from tqdm import tqdm

from matching import services
from matching.features import SCHEMA
from matching.models import ModelVersion
from matching.selectors import model_version_active
from matching.serving import artefact_directory


def version_arguments_add(parser) -> None:
    """The options every train_* command takes and new_version_prepare reads: --model-version, --activate,
    --if-none-active and --threads."""
    parser.add_argument("--model-version", default=None, help="Default: the UTC time, e.g. 20260501-030000.")
    parser.add_argument("--activate", action="store_true", help="Serve the new version at once.")
    parser.add_argument(
        "--if-none-active",
        action="store_true",
        help="Do nothing when a version is already active (the demo re-runs without retraining).",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads. Default 1: the models are small, and one thread is fastest on a busy host.",
    )


def at_least_one(options: dict, names: Sequence[str]) -> None:
    """Refuse any of these integer options below 1, naming it as typed (--max-train-samples)."""
    for name in names:
        if options[name] < 1:
            raise CommandError(f"--{name.replace('_', '-')} must be at least 1")


def new_version_prepare(*, name: str, command: str, options: dict, stdout) -> tuple[str, str, Path] | None:
    """(version, artefact_path, directory) for a new version of `name`, or None when --if-none-active
    finds one active (said on stdout). Refuses a version or a directory that already exists."""
    if options.get("if_none_active"):
        active = model_version_active(name=name)
        if active is not None:
            stdout.write(f"{command}: {name} {active.version} is already active; not retraining")
            return None
    if options.get("threads", 1) < 1:
        raise CommandError("--threads must be at least 1")
    version = options.get("model_version") or timezone.now().strftime("%Y%m%d-%H%M%S")
    artefact_path = f"{name}/{version}"
    if ModelVersion.objects.filter(name=name, version=version).exists():
        raise CommandError(f"{name} {version} is already registered: pick another --model-version")
    directory = artefact_directory(artefact_path=artefact_path)
    if directory.exists():
        raise CommandError(f"{directory} already exists: pick another --model-version")
    return version, artefact_path, directory


def artefact_register(
    *,
    name: str,
    version: str,
    artefact_path: str,
    directory: Path,
    metrics: dict,
    activate: bool,
    before_activate: Callable[[ModelVersion], None] | None = None,
) -> ModelVersion:
    """Register the saved artefact as a candidate (its files are removed if that fails, so no orphan is
    left), run `before_activate`, then activate it if asked."""
    try:
        model_version = services.model_version_register(
            name=name,
            version=version,
            artefact_path=artefact_path,
            metrics=metrics,
            feature_schema_version=SCHEMA.version,
        )
    except Exception:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    if before_activate is not None:
        before_activate(model_version)
    if activate:
        model_version = services.model_version_activate(name=name, version=version)
    return model_version


class EpochBars:
    """One tqdm bar per training stage, fed by `update(stage, epoch, epochs, loss)`."""

    def __init__(self, *, label: str, stream: TextIO) -> None:
        self.label = label
        self.stream = stream
        self.bars: dict[str, tqdm] = {}

    def update(self, stage: str, epoch: int, epochs: int, loss: float) -> None:
        if stage not in self.bars:
            self.bars[stage] = tqdm(
                total=epochs, desc=f"{self.label}: {stage}", unit="epoch", file=self.stream
            )
        self.bars[stage].set_postfix(loss=f"{loss:.4f}")
        self.bars[stage].update(1)
        if epoch == epochs:
            self.bars.pop(stage).close()

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()


def first_last(losses: Sequence[float]) -> str:
    """ "first → last" of per-epoch losses."""
    return f"{losses[0]:.4f} → {losses[-1]:.4f}" if losses else "-"


def metric(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def result_table(stdout, rows: Sequence[tuple[str, str]]) -> None:
    """The two-column table every train_* command ends with."""
    width = max(len(label) for label, _value in rows)
    stdout.write(f"| {'':<{width}} | value |")
    stdout.write(f"|{'-' * (width + 2)}|-------|")
    for label, value in rows:
        stdout.write(f"| {label:<{width}} | {value} |")
