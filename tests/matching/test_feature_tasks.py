"""Feature refresh jobs: planning, idempotency, progress, coalescing, and a real Celery worker on Redis."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from io import StringIO

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone
from django_redis import get_redis_connection

from activities.services import activity_join, activity_leave
from config.celery import app
from matching import services, tasks
from matching.features import features_as_of
from matching.models import STORED_GROUPS, FeatureRefreshChunk, FeatureRefreshRun, FeatureVector
from tests.celery_worker import running_worker
from tests.factories import NYC, ActivityFactory, UserFactory
from tests.matching.feature_store_people import people_with_history, stored_rows
from users import services as user_services
from users.models import User
from users.signals import person_features_changed


def _expected_rows(*, user_ids: list[int], at) -> dict[int, tuple[bytes, ...]]:
    batch = features_as_of(user_ids=user_ids, at=at)
    return {
        int(uid): tuple(batch.groups[name][row].astype("<f4").tobytes() for name in STORED_GROUPS)
        for row, uid in enumerate(batch.user_ids)
    }


# Planning -----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_run_is_planned_as_balanced_id_ranges_covering_everyone_once():
    people = [UserFactory() for _ in range(9)]
    # Gaps in the ids (deleted people) must not unbalance the chunks.
    User.objects.filter(pk__in=[people[1].pk, people[2].pk, people[6].pk]).delete()
    UserFactory(is_active=False)  # deactivated people are never computed
    active = sorted(User.objects.filter(is_active=True).values_list("pk", flat=True))

    run = services.feature_refresh_run_create(chunk_size=2)

    chunks = list(run.chunks.order_by("index"))
    assert (run.total_people, run.total_chunks, run.status) == (len(active), len(chunks), "pending")
    assert [c.people for c in chunks] == [2, 2, 2][: len(chunks) - 1] + [len(active) - 2 * (len(chunks) - 1)]
    covered = [
        [uid for uid in active if c.first_user_id <= uid < c.end_user_id] for c in chunks
    ]  # fmt: skip
    assert [len(ids) for ids in covered] == [c.people for c in chunks]
    assert sum(covered, []) == active
    assert all(a.end_user_id == b.first_user_id for a, b in zip(chunks, chunks[1:], strict=False))


@pytest.mark.django_db
def test_a_run_of_nobody_succeeds_at_once():
    User.objects.all().delete()
    run = services.feature_refresh_run_create(chunk_size=10)
    run = services.feature_refresh_run_execute(run_id=run.pk)
    assert (run.status, run.total_chunks, run.percent) == ("succeeded", 0, 100.0)


# Idempotency and progress ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_full_refresh_twice_with_the_same_as_of_gives_identical_rows():
    now = timezone.now()
    people = people_with_history(count=7, now=now)
    at = now - timedelta(minutes=10)

    first = services.feature_refresh_run_execute(
        run_id=services.feature_refresh_run_create(at=at, chunk_size=3).pk
    )
    rows = stored_rows()
    computed = dict(FeatureVector.objects.values_list("user_id", "computed_at"))
    second = services.feature_refresh_run_execute(
        run_id=services.feature_refresh_run_create(at=at, chunk_size=3).pk
    )

    assert (first.status, second.status) == ("succeeded", "succeeded")
    assert set(rows) == {p.pk for p in people} | set(User.objects.values_list("pk", flat=True))
    assert stored_rows() == rows  # the vectors and as_of, byte for byte
    assert all(as_of == at for _version, as_of, *_ in rows.values())
    assert dict(FeatureVector.objects.values_list("user_id", "computed_at")) != computed  # really rewritten


@pytest.mark.django_db
def test_a_redelivered_chunk_rewrites_its_rows_but_counts_its_progress_once():
    now = timezone.now()
    people_with_history(count=5, now=now)
    run = services.feature_refresh_run_create(at=now, chunk_size=2)
    services.feature_refresh_run_begin(run_id=run.pk)

    assert tasks.features_refresh_chunk.apply(args=(run.pk, 0)).get() == 2
    rows = stored_rows()
    # acks_late: the worker died before acknowledging, the broker hands the chunk out again.
    assert tasks.features_refresh_chunk.apply(args=(run.pk, 0)).get() == 2

    run.refresh_from_db()
    chunk = run.chunks.get(index=0)
    assert (run.done_chunks, run.done_people, chunk.attempts, chunk.stored) == (1, 2, 2, 2)
    assert run.percent == pytest.approx(100 * 2 / 5)
    assert stored_rows() == rows

    for index in (1, 2, 1):
        tasks.features_refresh_chunk.apply(args=(run.pk, index)).get()
    run = services.feature_refresh_run_finish(run_id=run.pk)
    assert (run.status, run.done_chunks, run.done_people, run.percent) == ("succeeded", 3, 5, 100.0)


@pytest.mark.django_db(transaction=True)
def test_two_deliveries_of_one_chunk_at_the_same_time_count_it_once():
    now = timezone.now()
    people_with_history(count=4, now=now)
    run = services.feature_refresh_run_create(at=now, chunk_size=4)
    services.feature_refresh_run_begin(run_id=run.pk)
    start = threading.Barrier(2)
    errors = []

    def deliver():
        try:
            start.wait(timeout=10)
            services.feature_refresh_chunk_compute(run_id=run.pk, index=0)
        except Exception as exc:  # noqa: BLE001 - reported to the test thread below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    run.refresh_from_db()
    assert (run.done_chunks, run.done_people) == (1, 4)
    assert run.chunks.get(index=0).attempts == 2


@pytest.mark.django_db
def test_a_failing_chunk_fails_the_run_and_a_resume_does_only_the_rest():
    now = timezone.now()
    people_with_history(count=5, now=now)
    run = services.feature_refresh_run_create(at=now, chunk_size=2)
    services.feature_refresh_run_begin(run_id=run.pk)
    tasks.features_refresh_chunk.apply(args=(run.pk, 0)).get()

    with pytest.raises(FeatureRefreshChunk.DoesNotExist):
        tasks.features_refresh_chunk.apply(args=(run.pk, 99)).get()  # a chunk the plan does not have
    run.refresh_from_db()
    assert run.status == "failed" and "chunk 99" in run.error and run.finished_at is not None

    assert services.feature_refresh_run_begin(run_id=run.pk) == [1, 2]
    run = services.feature_refresh_run_execute(run_id=run.pk)
    assert (run.status, run.error, run.done_chunks) == ("succeeded", "", 3)
    assert run.chunks.get(index=0).attempts == 1  # the finished chunk was not redone


@pytest.fixture
def eager_celery():
    """The embedded demo's mode: tasks (and chords) run in-process."""
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


@pytest.mark.django_db
def test_the_chord_runs_in_the_embedded_eager_mode(eager_celery, django_capture_on_commit_callbacks):
    now = timezone.now()
    people = people_with_history(count=5, now=now)
    with django_capture_on_commit_callbacks(execute=True):
        run = services.feature_refresh_run_start(at=now, chunk_size=2)
    run.refresh_from_db()
    assert (run.status, run.done_chunks, run.total_chunks, run.percent) == ("succeeded", 3, 3, 100.0)
    assert set(FeatureVector.objects.values_list("user_id", flat=True)) >= {p.pk for p in people}


# A real worker ---------------------------------------------------------------------------------------


def _wait_for(run_id: int, *, timeout: float = 90.0) -> FeatureRefreshRun:
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        run = FeatureRefreshRun.objects.get(pk=run_id)
        seen.append(run.done_chunks)
        if run.status in ("succeeded", "failed"):
            return run
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} did not finish in {timeout} s; progress seen: {seen}")


@pytest.mark.django_db(transaction=True)
def test_the_full_refresh_runs_through_a_real_celery_worker_on_redis():
    now = timezone.now()
    people_with_history(count=9, now=now)
    everyone = sorted(User.objects.values_list("pk", flat=True))
    at = now - timedelta(minutes=5)
    run = services.feature_refresh_run_create(at=at, chunk_size=2)
    assert run.total_chunks == (len(everyone) + 1) // 2 >= 4

    with running_worker(concurrency=2) as queue:
        # Only the fan-out is sent to the test queue: the worker sends the chunks and the finish to its
        # default queue, which running_worker sets to the same fresh queue (VICINO_CELERY_QUEUE), just as
        # a production worker sends them to its own default queue.
        assert (
            tasks.features_refresh_all.apply_async(kwargs={"run_id": run.pk}, queue=queue).get(60) == run.pk
        )
        run = _wait_for(run.pk)
        # Beat's way: no run given, the task plans one as of now.
        nightly_id = tasks.features_refresh_all.apply_async(queue=queue).get(timeout=60)
        nightly = _wait_for(nightly_id)

    assert (run.status, run.error) == ("succeeded", "")
    assert (run.done_chunks, run.done_people, run.percent) == (run.total_chunks, len(everyone), 100.0)
    assert set(run.chunks.values_list("attempts", flat=True)) == {1}
    assert nightly.status == "succeeded" and nightly.request_id and nightly.percent == 100.0

    # Every person's row: the nightly run (as of later) replaced the first; both are what the
    # computation gives as of their instant.
    rows = stored_rows()
    assert sorted(rows) == everyone
    assert {as_of for _v, as_of, *_ in rows.values()} == {nightly.as_of}
    expected = _expected_rows(user_ids=everyone, at=nightly.as_of)
    assert {uid: tuple(groups) for uid, (_v, _a, *groups) in rows.items()} == expected


# Coalesced per-person refresh ------------------------------------------------------------------------


@pytest.fixture
def broker_queue():
    """The Redis list the test process's tasks are sent to, emptied first (the broker is the test Redis)."""
    redis = get_redis_connection("default")
    name = app.conf.task_default_queue
    redis.delete(name)
    yield redis, name
    redis.delete(name)


def _messages(redis, queue: str) -> list[dict]:
    return [json.loads(raw) for raw in redis.lrange(queue, 0, -1)]


@pytest.mark.django_db
def test_a_burst_of_events_for_one_person_schedules_one_refresh(
    broker_queue, settings, django_capture_on_commit_callbacks
):
    redis, queue = broker_queue
    settings.VICINO_FEATURE_REFRESH_DELAY_SECONDS = 30
    person, other = UserFactory(), UserFactory()
    activity = ActivityFactory()
    now = timezone.now()

    # Five events of three kinds, each committed on its own, the way five requests would be.
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        user_services.location_update(user=person, latitude=NYC[0], longitude=NYC[1], recorded_at=now)
        user_services.location_update(
            user=person, latitude=NYC[0], longitude=NYC[1], recorded_at=now + timedelta(seconds=5)
        )
        user_services.profile_update(user=person, data={"interests": {"sports": 0.9}})
        activity_join(activity_id=activity.pk, user=person)
        activity_leave(activity_id=activity.pk, user=person)
    assert len(callbacks) == 5

    messages = _messages(redis, queue)
    assert len(messages) == 1
    headers = messages[0]["headers"]
    assert headers["task"] == "matching.tasks.features_refresh_person"
    assert headers["argsrepr"] == f"[{person.pk}]"
    assert headers["eta"] is not None  # the countdown lets the rest of the burst arrive first
    assert cache.get(services.feature_refresh_gate_key(user_id=person.pk)) == 1

    # Coalescing is per person: someone else's event schedules their own refresh.
    with django_capture_on_commit_callbacks(execute=True):
        user_services.profile_update(user=other, data={"languages": ["en"]})
    assert len(_messages(redis, queue)) == 2

    # The refresh opens the gate before it reads, so the next event after it starts is not lost.
    assert tasks.features_refresh_person.apply(args=(person.pk,)).get() == 1
    assert cache.get(services.feature_refresh_gate_key(user_id=person.pk)) is None
    assert FeatureVector.objects.filter(user=person).exists()
    with django_capture_on_commit_callbacks(execute=True):
        activity_join(activity_id=activity.pk, user=person)
    assert len(_messages(redis, queue)) == 3


@pytest.mark.django_db
def test_events_that_change_nothing_schedule_nothing(broker_queue, django_capture_on_commit_callbacks):
    redis, queue = broker_queue
    person = UserFactory()
    activity = ActivityFactory()
    with django_capture_on_commit_callbacks(execute=True):
        activity_leave(activity_id=activity.pk, user=person)  # never joined: a no-op
        user_services.profile_update(user=person, data={"display_name": "Kim"})  # not a feature
    assert _messages(redis, queue) == []


@pytest.mark.django_db
def test_a_failing_feature_receiver_never_fails_the_request(django_capture_on_commit_callbacks, caplog):
    def broken(sender, **kwargs):
        raise RuntimeError("broker down")

    person = UserFactory()
    activity = ActivityFactory()
    person_features_changed.connect(broken)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            _activity, joined = activity_join(activity_id=activity.pk, user=person)
    finally:
        person_features_changed.disconnect(broken)
    assert joined
    assert "person_features_changed receiver" in caplog.text and "broker down" in caplog.text


@pytest.mark.django_db
def test_refreshing_someone_deleted_since_the_event_does_nothing():
    person = UserFactory()
    person_id = person.pk
    person.delete()
    assert services.feature_refresh_person(user_id=person_id) == 0


# The command -----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_compute_features_runs_the_same_job_in_process_with_a_progress_bar():
    now = timezone.now()
    people_with_history(count=5, now=now)
    out, err = StringIO(), StringIO()
    at = (now - timedelta(hours=1)).replace(microsecond=0)

    call_command("compute_features", "--chunk-size", "2", "--as-of", at.isoformat(), stdout=out, stderr=err)

    run = FeatureRefreshRun.objects.get()
    everyone = User.objects.count()
    assert (run.status, run.as_of, run.done_people, run.total_chunks) == ("succeeded", at, everyone, 3)
    assert f"{everyone} people (run {run.pk}, 3 chunks)" in out.getvalue() and "people/s" in out.getvalue()
    assert "100%" in err.getvalue()
    assert FeatureVector.objects.filter(as_of=at).count() == everyone


@pytest.mark.django_db
def test_compute_features_for_listed_people_only():
    people = people_with_history(count=3, now=timezone.now())
    out = StringIO()
    call_command(
        "compute_features", "--users", f"{people[0].pk},{people[2].pk}", stdout=out, stderr=StringIO()
    )
    assert sorted(FeatureVector.objects.values_list("user_id", flat=True)) == [people[0].pk, people[2].pk]
    assert "2 people (listed people)" in out.getvalue()
    assert not FeatureRefreshRun.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--as-of", "yesterday"], "ISO 8601"),
        (["--as-of", (timezone.now() + timedelta(days=1)).isoformat()], "future"),
        (["--users", "1,x"], "comma-separated"),
        (["--users", "999999999"], "no such users"),
        (["--chunk-size", "0"], "at least 1"),
    ],
)
def test_compute_features_refuses_bad_arguments(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("compute_features", *args, stdout=StringIO(), stderr=StringIO())
    assert not FeatureVector.objects.exists()
