"""Import the public check-in datasets: `manage.py import_checkins [--dataset ...] [--data-dir PATH]`."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, OutputWrapper
from tqdm import tqdm

from users.category_map import category_table_markdown
from users.importers import (
    DATASET_READERS,
    CheckinDataset,
    ImportDataError,
    checkins_load,
    import_summary_table,
)


class _TqdmStream:
    """tqdm redraws a line with '\\r'; OutputWrapper would append a newline to every write."""

    def __init__(self, wrapper: OutputWrapper) -> None:
        self._wrapper = wrapper

    def write(self, text: str) -> None:
        self._wrapper.write(text, ending="")

    def flush(self) -> None:
        self._wrapper.flush()


class TqdmProgress:
    """One progress bar per import phase, drawn on the command's stderr."""

    def __init__(self, stream: OutputWrapper, *, label: str) -> None:
        self._stream = _TqdmStream(stream)
        self._label = label
        self._bars: dict[str, tqdm] = {}

    def __call__(self, phase: str, done: int, total: int | None) -> None:
        bar = self._bars.get(phase)
        if bar is None:
            # Phases run one after another: finish the previous bar so the new one gets its own line.
            self.close()
            bar = self._bars[phase] = tqdm(
                desc=f"{self._label}: {phase}", total=total, unit="rows", file=self._stream, unit_scale=True
            )
        bar.update(done)

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()


def datasets_read(*, names: list[str], data_dir: Path) -> list[CheckinDataset]:
    """Every requested dataset, checked before anything is written: a missing file fails the whole run."""
    try:
        return [DATASET_READERS[name](data_dir=data_dir) for name in names]
    except ImportDataError as exc:
        raise CommandError(str(exc)) from exc


class Command(BaseCommand):
    help = (
        "Import real check-ins (Foursquare NYC, Yelp LBSN) from VICINO_DATA_DIR: places, people, visits, "
        "location history, current locations and friendships. Idempotent: a second run adds nothing."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dataset", choices=[*DATASET_READERS, "all"], default="all")
        parser.add_argument(
            "--data-dir",
            type=Path,
            default=None,
            help="Folder holding the datasets (default: VICINO_DATA_DIR).",
        )
        parser.add_argument(
            "--people",
            type=int,
            default=None,
            metavar="N",
            help="Import only the first N people of each dataset (by their id), with their check-ins.",
        )
        parser.add_argument(
            "--print-category-table",
            action="store_true",
            help="Print the venue-category mapping as markdown (for docs/data.md) and exit.",
        )

    def handle(self, *args, **options) -> None:
        if options["print_category_table"]:
            self.stdout.write(category_table_markdown(), ending="")
            return
        people_limit = options["people"]
        if people_limit is not None and people_limit < 1:
            raise CommandError("--people must be at least 1")
        data_dir = (options["data_dir"] or settings.VICINO_DATA_DIR).resolve()
        if not data_dir.is_dir():
            raise CommandError(
                f"data directory not found: {data_dir}. Set VICINO_DATA_DIR or pass --data-dir."
            )
        names = list(DATASET_READERS) if options["dataset"] == "all" else [options["dataset"]]
        for dataset in datasets_read(names=names, data_dir=data_dir):
            progress = TqdmProgress(self.stderr, label=dataset.source)
            try:
                result = checkins_load(dataset=dataset, people_limit=people_limit, on_progress=progress)
            except ImportDataError as exc:
                raise CommandError(str(exc)) from exc
            finally:
                progress.close()
            self.stdout.write(import_summary_table(result=result))
            self.stdout.write("")
