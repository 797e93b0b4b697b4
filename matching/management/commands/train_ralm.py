"""`manage.py train_ralm [--model-version V] [--activate] [--encode]`: train RALM here and register it.

Reads the check-ins and features of the app (matching.training), trains both stages with progress bars on
stderr, writes the artefact under VICINO_MODEL_DIR/ralm/<version>/, registers it with its metrics as a
candidate. --encode stores everyone's embedding under it (in this process) and --activate then makes it
the served version; activated without --encode, the workers encode everyone (matching.services).
"""

from __future__ import annotations

import time

import torch
from django.core.management.base import BaseCommand, CommandError

from matching import services
from matching.management.commands._registry import (
    EpochBars,
    artefact_register,
    first_last,
    new_version_prepare,
    result_table,
    version_arguments_add,
)
from matching.serving import ralm_artefact_save
from matching.training import RalmTrainingOptions, TrainingDataError, ralm_train
from users.management.commands.import_checkins import TqdmProgress

MODEL_NAME = "ralm"


class Command(BaseCommand):
    help = (
        "Train RALM (stage 1 next-place, stage 2 look-alike) on the app's check-ins and features, split by "
        "time; save it under VICINO_MODEL_DIR and register it with its validation AUC."
    )

    def add_arguments(self, parser) -> None:
        defaults = RalmTrainingOptions()
        version_arguments_add(parser)
        parser.add_argument("--encode", action="store_true", help="Store everyone's embedding under it.")
        parser.add_argument("--embedding-dim", type=int, default=defaults.embedding_dim)
        parser.add_argument("--hidden-dim", type=int, default=defaults.hidden_dim)
        parser.add_argument("--k", type=int, default=defaults.k, help="k-means centroids per seed set.")
        parser.add_argument("--tower-epochs", type=int, default=defaults.tower_epochs)
        parser.add_argument("--lookalike-epochs", type=int, default=defaults.lookalike_epochs)
        parser.add_argument("--max-train-tasks", type=int, default=defaults.max_train_tasks)
        parser.add_argument("--seed", type=int, default=defaults.seed)

    def handle(self, *args, **options) -> None:
        started = time.perf_counter()
        prepared = new_version_prepare(
            name=MODEL_NAME, command="train_ralm", options=options, stdout=self.stdout
        )
        if prepared is None:
            return
        version, artefact_path, directory = prepared
        torch.set_num_threads(options["threads"])
        training_options = RalmTrainingOptions(
            embedding_dim=options["embedding_dim"],
            field_dim=options["embedding_dim"],
            hidden_dim=options["hidden_dim"],
            k=options["k"],
            tower_epochs=options["tower_epochs"],
            lookalike_epochs=options["lookalike_epochs"],
            max_train_tasks=options["max_train_tasks"],
            seed=options["seed"],
        )
        bars = EpochBars(label="train_ralm", stream=self.stderr)
        try:
            self.stderr.write("train_ralm: reading check-ins and computing features as of the splits…")
            result = ralm_train(options=training_options, progress=bars.update)
        except TrainingDataError as error:
            raise CommandError(str(error)) from error
        finally:
            bars.close()
        train_seconds = time.perf_counter() - started
        metrics = {**result.metrics, "train_seconds": round(train_seconds, 2)}

        ralm_artefact_save(
            artefact_path=artefact_path, user_tower=result.user_tower, lookalike=result.lookalike
        )
        encoded = None

        def encode(model_version) -> None:
            # Before activating: the version then serves with everyone's embedding from its first request.
            nonlocal encoded
            progress_bar = TqdmProgress(self.stderr, label="train_ralm")
            try:
                encoded = services.user_embeddings_encode_all(
                    model_version_id=model_version.pk, on_chunk=lambda n: progress_bar("embeddings", n, None)
                )
            finally:
                progress_bar.close()

        model_version = artefact_register(
            name=MODEL_NAME,
            version=version,
            artefact_path=artefact_path,
            directory=directory,
            metrics=metrics,
            activate=options["activate"],
            before_activate=encode if options["encode"] else None,
        )
        rows = [
            ("model", f"{MODEL_NAME} {version} ({model_version.status})"),
            ("artefact", str(directory)),
            ("people / places / visits", _counts(metrics)),
            ("split (train | validation from)", f"{metrics['t_train']} | {metrics['t_val']}"),
            ("stage 1 examples", f"{metrics['tower_examples']:,}"),
            ("stage 1 loss (first → last epoch)", first_last(metrics["tower_losses"])),
            ("stage 2 tasks / triples", f"{metrics['train_tasks']:,} / {metrics['train_triples']:,}"),
            ("stage 2 loss (first → last epoch)", first_last(metrics["lookalike_losses"])),
            ("train AUC (mean over tasks)", f"{metrics['train_auc']:.4f}"),
            ("validation AUC, RALM", f"{metrics['val_auc']:.4f}"),
            ("validation AUC, cosine to mean seed", f"{metrics['val_mean_seed_cosine_auc']:.4f}"),
            ("validation AUC, random", "0.5000"),
            ("validation tasks", f"{metrics['val_tasks']:,}"),
            ("embeddings stored", "-" if encoded is None else f"{encoded:,}"),
            ("training time", f"{train_seconds:.1f} s"),
            ("total time", f"{time.perf_counter() - started:.1f} s"),
        ]
        result_table(self.stdout, rows)


def _counts(metrics: dict) -> str:
    return f"{metrics['people']:,} / {metrics['places']:,} / {metrics['visits']:,}"
