"""`manage.py train_recall [--architecture A|all] [--activate] [--if-none-active] [--export-index]`: train
the two-tower recall model on the app's event log, evaluate it by exact full-catalogue ranking on the
later period, and register it.

Places and activities share one content space (matching.ranking.content), so the item tower that learnt
from check-ins encodes upcoming activities for "activities for you". `--architecture all` trains DSSM,
YoutubeDNN, YoutubeSBC and FacebookDSSM, each with its paper's recipe, and keeps the best by Hit@50 (then
NDCG@50); `--mode`, `--negatives` and `--num-negatives` override the recipe. The artefact goes under
VICINO_MODEL_DIR/recall/<version>/ (with the catalogue's FAISS index when --export-index) and is
registered (name "recall") with its metrics; --activate serves it at once (no restart).
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
from matching.ranking.artefacts import (
    ITEM_INDEX_FILE,
    RECALL_NAME,
    recall_artefact_save,
    recall_item_index_export,
)
from matching.ranking.training import RecallTrainingOptions, TrainingDataError, recall_train
from ml.recall import ARCHITECTURES


class Command(BaseCommand):
    help = (
        "Train the two-tower recall model (DSSM family) on the app's check-ins and joins, split by time; "
        "evaluate Hit@K / NDCG@K by exact full ranking; save it under VICINO_MODEL_DIR and register it "
        "(name 'recall')."
    )

    def add_arguments(self, parser) -> None:
        defaults = RecallTrainingOptions()
        version_arguments_add(parser)
        parser.add_argument(
            "--architecture",
            choices=[*ARCHITECTURES, "all"],
            default=defaults.architecture,
            help="'all' trains each with its paper's recipe and keeps the best by Hit@50.",
        )
        parser.add_argument(
            "--mode", choices=["point", "pair", "list"], default=None, help="Override the recipe."
        )
        parser.add_argument(
            "--negatives",
            choices=["random", "popularity", "in_batch"],
            default=None,
            help="Override the recipe.",
        )
        parser.add_argument("--num-negatives", type=int, default=None, help="Override the recipe.")
        parser.add_argument("--epochs", type=int, default=defaults.epochs)
        parser.add_argument("--embedding-dim", type=int, default=defaults.embedding_dim)
        parser.add_argument("--temperature", type=float, default=defaults.temperature)
        parser.add_argument("--history-length", type=int, default=defaults.history_length)
        parser.add_argument("--max-train-samples", type=int, default=defaults.max_train_samples)
        parser.add_argument("--split-quantile", type=float, default=defaults.split_quantile)
        parser.add_argument(
            "--export-index",
            action="store_true",
            help=f"Also write the catalogue's FAISS index ({ITEM_INDEX_FILE}).",
        )
        parser.add_argument("--seed", type=int, default=defaults.seed)

    def handle(self, *args, **options) -> None:
        started = time.perf_counter()
        prepared = new_version_prepare(
            name=RECALL_NAME, command="train_recall", options=options, stdout=self.stdout
        )
        if prepared is None:
            return
        version, artefact_path, directory = prepared
        at_least_one(options, ("epochs", "embedding_dim", "history_length", "max_train_samples"))
        if not options["temperature"] > 0:
            raise CommandError("--temperature must be positive")
        torch.set_num_threads(options["threads"])
        defaults = RecallTrainingOptions()
        dim = options["embedding_dim"]
        training_options = RecallTrainingOptions(
            architecture=options["architecture"],
            mode=options["mode"],
            negatives=options["negatives"],
            num_negatives=options["num_negatives"],
            embedding_dim=dim,
            tower_dims=(2 * dim, dim) if dim != defaults.embedding_dim else defaults.tower_dims,
            temperature=options["temperature"],
            history_length=options["history_length"],
            epochs=options["epochs"],
            max_train_samples=options["max_train_samples"],
            split_quantile=options["split_quantile"],
            seed=options["seed"],
        )
        bars = EpochBars(label="train_recall", stream=self.stderr)
        try:
            self.stderr.write("train_recall: reading check-ins and joins…")
            result = recall_train(options=training_options, progress=bars.update)
        except (TrainingDataError, ValueError) as error:
            raise CommandError(str(error)) from error
        finally:
            bars.close()
        train_seconds = time.perf_counter() - started
        metrics = {**result.metrics, "train_seconds": round(train_seconds, 2)}
        recall_artefact_save(artefact_path=artefact_path, model=result.model, vocabulary=result.vocabulary)
        indexed = None
        if options["export_index"]:
            indexed = recall_item_index_export(
                model=result.model, item_features=result.item_features, path=directory / ITEM_INDEX_FILE
            )
        model_version = artefact_register(
            name=RECALL_NAME,
            version=version,
            artefact_path=artefact_path,
            directory=directory,
            metrics=metrics,
            activate=options["activate"],
        )
        ks = metrics["options"]["ks"]
        popularity = metrics["popularity"]
        recipe = metrics["recipe"]
        rows = [
            ("model", f"{RECALL_NAME} {version} ({model_version.status})"),
            ("artefact", str(directory)),
            ("architecture (recipe)",
             f"{metrics['architecture']} ({recipe['mode']}-wise, {recipe['negatives']} negatives)"),
            ("people / catalogue (places with an id)", f"{metrics['people']:,} / {metrics['catalogue']:,}"),
            ("split: validation from", metrics["t_split"]),
            ("train positives / validation people",
             f"{metrics['train_samples']:,} / {metrics['val_people']:,}"),
            ("loss (first → last epoch)", first_last(metrics["losses"])),
        ]  # fmt: skip
        for k in ks:
            rows.append(
                (
                    f"Hit@{k} / NDCG@{k} (popularity baseline)",
                    f"{metric(metrics[f'hit@{k}'])} / {metric(metrics[f'ndcg@{k}'])} "
                    f"({metric(popularity[f'hit@{k}'])} / {metric(popularity[f'ndcg@{k}'])})",
                )
            )
        for other in metrics["compared"]:
            rows.append(
                (f"  compared: {other['architecture']} Hit@50 / NDCG@50",
                 f"{metric(other.get('hit@50'))} / {metric(other.get('ndcg@50'))} "
                 f"({other['fit_seconds']:.1f} s)")
            )  # fmt: skip
        rows += [
            ("FAISS index rows", "-" if indexed is None else f"{indexed:,} ({directory / ITEM_INDEX_FILE})"),
            ("fitting time", f"{metrics['fit_seconds']:.1f} s"),
            ("total time", f"{time.perf_counter() - started:.1f} s"),
        ]
        result_table(self.stdout, rows)
