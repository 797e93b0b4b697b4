"""`manage.py train_ranker [--model-version V] [--activate] [--if-none-active]`: train the DIN + ETA
acceptance ranker on the app's event log, validate it on the later period, and register it.

Reads check-ins, joined activities and invitation answers (matching.ranking.training, split by time),
trains ETA (DIN's target attention on the recent history, SimHash top-k retrieval and target attention on
the long one) with BCE + λ·MBA, reports AUC and GAUC on the later period next to a no-model baseline,
writes the artefact under VICINO_MODEL_DIR/ranker/<version>/ and registers it (name "ranker") with its
metrics as a candidate; --activate serves it at once (no restart).
"""

from __future__ import annotations

import time

import torch
from django.core.management.base import BaseCommand, CommandError

from matching.management.commands._registry import (
    EpochBars,
    artefact_register,
    at_least_one,
    first_last,
    metric,
    new_version_prepare,
    result_table,
    version_arguments_add,
)
from matching.ranking.artefacts import RANKER_NAME, ranker_artefact_save
from matching.ranking.training import RankerTrainingOptions, TrainingDataError, ranker_train


class Command(BaseCommand):
    help = (
        "Train the DIN+ETA acceptance ranker on the app's check-ins, joins and invitation answers, split "
        "by time; save it under VICINO_MODEL_DIR and register it (name 'ranker') with its validation AUC "
        "and GAUC."
    )

    def add_arguments(self, parser) -> None:
        defaults = RankerTrainingOptions()
        version_arguments_add(parser)
        parser.add_argument("--epochs", type=int, default=defaults.epochs)
        parser.add_argument(
            "--short-length", type=int, default=defaults.short_length, help="DIN's recent events."
        )
        parser.add_argument(
            "--long-length",
            type=int,
            default=defaults.long_length,
            help="ETA's earlier events (cut for memory).",
        )
        parser.add_argument(
            "--top-k", type=int, default=defaults.top_k, help="Long-history items ETA attends to."
        )
        parser.add_argument("--hash-bits", type=int, default=defaults.hash_bits)
        parser.add_argument("--embedding-dim", type=int, default=defaults.embedding_dim)
        parser.add_argument("--mba-lambda", type=float, default=defaults.mba_lambda)
        parser.add_argument("--negatives", type=int, default=defaults.negatives_per_positive)
        parser.add_argument("--max-train-positives", type=int, default=defaults.max_train_positives)
        parser.add_argument("--max-val-positives", type=int, default=defaults.max_val_positives)
        parser.add_argument("--split-quantile", type=float, default=defaults.split_quantile)
        parser.add_argument(
            "--compare-din",
            action="store_true",
            help="Also train DIN alone on the same samples and report it.",
        )
        parser.add_argument("--seed", type=int, default=defaults.seed)

    def handle(self, *args, **options) -> None:
        started = time.perf_counter()
        prepared = new_version_prepare(
            name=RANKER_NAME, command="train_ranker", options=options, stdout=self.stdout
        )
        if prepared is None:
            return
        version, artefact_path, directory = prepared
        at_least_one(
            options,
            ("epochs", "short_length", "long_length", "top_k", "hash_bits", "embedding_dim", "negatives"),
        )
        torch.set_num_threads(options["threads"])
        training_options = RankerTrainingOptions(
            short_length=options["short_length"],
            long_length=options["long_length"],
            top_k=options["top_k"],
            hash_bits=options["hash_bits"],
            embedding_dim=options["embedding_dim"],
            epochs=options["epochs"],
            mba_lambda=options["mba_lambda"],
            negatives_per_positive=options["negatives"],
            max_train_positives=options["max_train_positives"],
            max_val_positives=options["max_val_positives"],
            split_quantile=options["split_quantile"],
            compare_din=options["compare_din"],
            seed=options["seed"],
        )
        bars = EpochBars(label="train_ranker", stream=self.stderr)
        try:
            self.stderr.write("train_ranker: reading check-ins, joins and invitation answers…")
            result = ranker_train(options=training_options, progress=bars.update)
        except TrainingDataError as error:
            raise CommandError(str(error)) from error
        finally:
            bars.close()
        train_seconds = time.perf_counter() - started
        metrics = {**result.metrics, "train_seconds": round(train_seconds, 2)}
        ranker_artefact_save(artefact_path=artefact_path, model=result.model, vocabulary=result.vocabulary)
        model_version = artefact_register(
            name=RANKER_NAME,
            version=version,
            artefact_path=artefact_path,
            directory=directory,
            metrics=metrics,
            activate=options["activate"],
        )
        rows = [
            ("model", f"{RANKER_NAME} {version} ({model_version.status})"),
            ("artefact", str(directory)),
            ("people / events", f"{metrics['people']:,} / {metrics['events']:,}"),
            ("split: validation from", metrics["t_split"]),
            ("train samples (positives)", f"{metrics['train_samples']:,} ({metrics['train_positives']:,})"),
            ("validation samples (positives, people)",
             f"{metrics['val_samples']:,} ({metrics['val_positives']:,}, {metrics['val_people']:,})"),
            ("places with an id / areas", f"{metrics['places_with_ids']:,} / {metrics['areas']:,}"),
            ("mean long history (events)", f"{metrics['mean_long_history']:.1f}"),
            ("loss, BCE + λ·MBA (first → last epoch)", first_last(metrics["losses"])),
            ("train AUC (5,000 samples)", metric(metrics["train_auc"])),
            ("validation AUC / GAUC, DIN+ETA",
             f"{metric(metrics['val_auc'])} / {metric(metrics['val_gauc'])}"),
        ]  # fmt: skip
        if "din_val_auc" in metrics:
            rows.append(
                (
                    "validation AUC / GAUC, DIN alone",
                    f"{metric(metrics['din_val_auc'])} / {metric(metrics['din_val_gauc'])}",
                )
            )
        rows += [
            ("validation AUC / GAUC, history baseline",
             f"{metric(metrics['val_baseline_auc'])} / {metric(metrics['val_baseline_gauc'])}"),
            ("activity samples in validation", f"{metrics['val_activity_samples']:,}"),
            ("validation AUC on activities, DIN+ETA / baseline",
             f"{metric(metrics['val_activity_auc'])} / {metric(metrics['val_activity_baseline_auc'])}"),
            ("fitting time", f"{metrics['fit_seconds']:.1f} s"),
            ("total time", f"{time.perf_counter() - started:.1f} s"),
        ]  # fmt: skip
        result_table(self.stdout, rows)
