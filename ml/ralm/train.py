"""Training loops for both RALM stages: deterministic given a seed, silent, with an optional progress hook.

Both loops run inside `torch.random.fork_rng` seeded with the TrainConfig's seed, so dropout and shuffling
repeat exactly from run to run and the caller's global RNG is left as it was. The shuffling and the negative
sampling use their own seeded torch.Generator. Each returns the mean training loss of every epoch.

`progress(epoch, epochs, loss)` is called after every epoch (epoch counts from 1); the command-line and
Celery wrappers turn it into a progress bar.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ml.ralm.config import TrainConfig
from ml.ralm.kmeans import cluster_means, kmeans
from ml.ralm.lookalike import LookalikeModel
from ml.ralm.user_tower import UserRepresentationModel
from ml.sampling import FrequencyRankSampler

Progress = Callable[[int, int, float], None]


def _batches(n: int, batch_size: int, generator: torch.Generator) -> list[Tensor]:
    order = torch.randperm(n, generator=generator)
    # BatchNorm cannot normalise a batch of one row in training mode; a lone last row waits for next epoch.
    return [batch for batch in order.split(batch_size) if batch.numel() > 1]


def _optimise_epoch(
    optimiser: torch.optim.Optimizer, batches: list[Tensor], batch_loss: Callable[[Tensor], Tensor]
) -> float:
    """One pass over `batches` (each a (b,) index tensor); returns the mean loss per example."""
    total, count = 0.0, 0
    for batch in batches:
        loss = batch_loss(batch)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        total += loss.item() * batch.numel()
        count += batch.numel()
    return total / max(count, 1)


def train_user_tower(
    model: UserRepresentationModel,
    inputs: dict[str, Tensor],
    next_places: Tensor,
    training_counts: Tensor,
    config: TrainConfig,
    *,
    progress: Progress | None = None,
) -> list[float]:
    """Stage 1, next-place prediction with a sampled softmax.

    inputs: {field: (N, …)} the person's fields at each check-in; next_places: (N,) int64 place id of the
    check-in that followed; training_counts: (n_places,) check-in counts per place over the TRAINING period
    only, the negatives' pool (later places can't leak in).
    """
    sampler = FrequencyRankSampler(training_counts)
    num_negatives = model.config.num_negatives
    losses: list[float] = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        generator = torch.Generator().manual_seed(config.seed)
        optimiser = torch.optim.Adam(
            model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
        )

        def batch_loss(batch: Tensor) -> Tensor:
            positives = next_places[batch]
            negatives = sampler.sample(positives, num_negatives, generator=generator)
            log_expected = None
            if model.config.logq_correction:
                candidates = torch.cat([positives.unsqueeze(1), negatives], dim=1)
                log_expected = sampler.log_expected_count(candidates, num_negatives)
            batch_inputs = {name: values[batch] for name, values in inputs.items()}
            return model.next_place_loss(batch_inputs, positives, negatives, log_expected)

        model.train()
        for epoch in range(config.epochs):
            batches = _batches(next_places.shape[0], config.batch_size, generator)
            losses.append(_optimise_epoch(optimiser, batches, batch_loss))
            if progress is not None:
                progress(epoch + 1, config.epochs, losses[-1])
    model.eval()
    return losses


@dataclass(frozen=True)
class LookalikeTasks:
    """(seed set, target, label) triples; seed sets are stored once and referenced by index.

    seeds: (N_sets, S, d_in) user embeddings, padded; seed_mask: (N_sets, S) bool, True for real seeds;
    set_index: (M,) int64 the seed set of each triple; targets: (M, d_in); labels: (M,) 1 = the target
    joined / visited after the split time, 0 = a sampled person from the same area who did not.
    """

    seeds: Tensor
    seed_mask: Tensor
    set_index: Tensor
    targets: Tensor
    labels: Tensor


@torch.no_grad()
def cluster_seed_sets(model: LookalikeModel, seeds: Tensor, seed_mask: Tensor, *, seed: int) -> Tensor:
    """k-means of every seed set in the model's CURRENT transformed space: (N_sets, S, d_in), (N_sets, S)
    → (N_sets, S) int64 cluster index per seed (0 on padding). Runs the transform in eval mode."""
    was_training = model.training
    model.eval()
    transformed = model.encode(seeds, seed_mask)
    assignment = torch.zeros(seed_mask.shape, dtype=torch.int64)
    for position in range(seeds.shape[0]):
        real = seed_mask[position]
        count = int(real.sum())
        if 0 < count <= model.config.k:
            # No more seeds than centroids: each seed is its own cluster (duplicates too, which scores the
            # same as one cluster of their summed weight), so skip k-means.
            assignment[position, real] = torch.arange(count)
        elif count:
            clusters = kmeans(
                transformed[position][real],
                model.config.k,
                seed=seed,
                max_iterations=model.config.kmeans_iterations,
            )
            assignment[position, real] = clusters.assignment
    model.train(was_training)
    return assignment


def lookalike_batch_scores(
    model: LookalikeModel, tasks: LookalikeTasks, assignment: Tensor, batch: Tensor
) -> Tensor:
    """Scores (len(batch),) of the triples `batch`, with each seed set summarised by the centroids of its
    fixed `assignment`, recomputed from the current transform so gradients reach it through the seeds."""
    sets, inverse = torch.unique(tasks.set_index[batch], return_inverse=True)
    mask = tasks.seed_mask[sets]
    transformed = model.encode(tasks.seeds[sets], mask)
    ones = mask.to(transformed.dtype)
    global_vec, _ = model.global_attention(transformed, ones, mask)
    centroids, sizes = cluster_means(transformed, assignment[sets], mask, model.config.k)
    scores, _ = model.score_summary(
        tasks.targets[batch], global_vec[inverse], centroids[inverse], sizes[inverse]
    )
    return scores


@torch.no_grad()
def calibrate_logit_bias(model: LookalikeModel, tasks: LookalikeTasks, assignment: Tensor) -> None:
    """Start the logit bias where the mean predicted probability is the label rate.

    The score is a mix of cosines, and the initial bias of 0 makes every prediction about
    sigmoid(logit_scale · mean score), far above a label rate of, say, 1 in 6. The first updates then
    mostly push every score down, and Adam moves the transform and attention as fast as the bias while
    doing so, undoing whatever structure the embeddings had. Starting at the prior (the usual
    initialisation of an output bias) leaves the gradients to the ranking.
    """
    rate = float(tasks.labels.to(torch.float32).mean())
    if not 0.0 < rate < 1.0:
        return
    was_training = model.training
    model.eval()
    batches = torch.arange(tasks.labels.shape[0]).split(4096)
    scores = torch.cat([lookalike_batch_scores(model, tasks, assignment, batch) for batch in batches])
    model.logit_bias.fill_(math.log(rate / (1.0 - rate)) - float(model.logit_scale * scores.mean()))
    model.train(was_training)


def train_lookalike(
    model: LookalikeModel,
    tasks: LookalikeTasks,
    config: TrainConfig,
    *,
    progress: Progress | None = None,
) -> list[float]:
    """Stage 2: binary cross-entropy of sigmoid(logit_scale · score + bias) against the labels.

    The seeds are re-clustered at the start of every epoch because the shared transform, the space the
    clusters live in, has moved since the last clustering. The logit bias starts at the label prior
    (`calibrate_logit_bias`).
    """
    losses: list[float] = []
    labels = tasks.labels.to(torch.float32)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        generator = torch.Generator().manual_seed(config.seed)
        optimiser = torch.optim.Adam(
            model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
        )
        for epoch in range(config.epochs):
            assignment = cluster_seed_sets(model, tasks.seeds, tasks.seed_mask, seed=config.seed + epoch)
            if epoch == 0:
                calibrate_logit_bias(model, tasks, assignment)
            model.train()

            def batch_loss(batch: Tensor, assignment=assignment) -> Tensor:
                scores = lookalike_batch_scores(model, tasks, assignment, batch)
                return F.binary_cross_entropy_with_logits(model.logits(scores), labels[batch])

            batches = _batches(labels.shape[0], config.batch_size, generator)
            losses.append(_optimise_epoch(optimiser, batches, batch_loss))
            if progress is not None:
                progress(epoch + 1, config.epochs, losses[-1])
    model.eval()
    return losses
