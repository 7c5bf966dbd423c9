"""The labeling queue's rules: modes, escalation, skip, release, leases, assignment, counts."""

import io
from datetime import timedelta

import orjson
import pytest
from django.db.models import Count
from django.utils import timezone

from accounts.models import ExpertiseTag
from annotation import imports, queue, services
from annotation.exceptions import Conflict, InvalidInput, NotAllowed, NotFound
from annotation.models import Annotation, AssignmentJob, Conversation, Task
from projects import services as project_services
from projects.models import Membership
from tests.factories import ConversationFactory, MembershipFactory, ProjectFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("immediate_on_commit")]

DONE = {
    "2": {
        "observed_behavior": ["answered"],
        "expected_behavior": "answer",
        "factuality": "correct",
    },
    "4": {"observed_behavior": ["refused"], "expected_behavior": "refuse", "factuality": "correct"},
}


def submit(task, user):
    return services.save_annotation(
        task=task, user=user, version=1, turns=DONE, conversation={}, submit=True
    )


def assert_counts_match(project):
    """The maintained counts always equal a fresh count of the tasks."""
    maintained = {k: v for k, v in queue.task_counts(project).items() if v}
    assert maintained == queue.recount(project)


def member(project, name, *expertise, role=Membership.Role.ANNOTATOR):
    user = UserFactory(username=name)
    user.expertise.set([ExpertiseTag.objects.get_or_create(name=tag)[0] for tag in expertise])
    MembershipFactory(project=project, user=user, role=role)
    return user


def set_mode(project, owner, mode):
    project_services.update_project(project=project, actor=owner, assignment_mode=mode)


def assign(project, owner, action="assign", **options):
    job = queue.create_assignment_job(project=project, actor=owner, action=action, **options)
    job.refresh_from_db()
    return job


# --- Counts ---


def test_imports_and_every_move_keep_the_counts_exact(project, owner, annotator, reviewer):
    project_services.update_project(project=project, actor=owner, overlap=2)
    data = b"".join(
        orjson.dumps({"id": f"c{i}", "turns": [{"role": "user", "text": "hi"}]}) + b"\n"
        for i in range(6)
    )
    imports.import_conversations(project=project, stream=io.BytesIO(data))
    assert queue.task_counts(project)["open"] == 12
    first = queue.claim_next_task(project=project, user=annotator)
    ExpertiseTag.objects.create(name="hr")
    queue.skip_task(task_id=first.pk, user=annotator, reason="needs_expert", expertise="hr")
    second = queue.claim_next_task(project=project, user=annotator)
    queue.release_task(task_id=second.pk, user=annotator)
    third = queue.claim_next_task(project=project, user=reviewer)
    queue.release_expired_leases(now=timezone.now() + timedelta(days=1))
    assert Task.objects.get(pk=third.pk).status == "expired"
    counts = queue.task_counts(project)
    assert (counts["escalated"], counts["skipped"], counts["released"], counts["expired"]) == (
        1,
        1,
        1,
        1,
    )
    assert counts["open"] == 11
    assert_counts_match(project)


def test_submitting_moves_a_task_to_done(project, annotator, conversation):
    task = queue.claim_next_task(project=project, user=annotator)
    submit(task, annotator)
    counts = queue.task_counts(project)
    assert (counts["in_progress"], counts["submitted"]) == (0, 1)
    assert_counts_match(project)


def test_recount_repairs_counts_gone_wrong(project, conversation):
    queue.count_moves(project.pk, {"open": 40})
    assert queue.task_counts(project)["open"] == 41
    queue.recount(project)
    assert queue.task_counts(project)["open"] == 1


# --- Modes ---


def test_assigned_mode_gives_only_assigned_work(project, owner, annotator):
    set_mode(project, owner, "assigned")
    ConversationFactory.create_batch(3, project=project, metadata={"batch": "a"})
    assert queue.claim_next_task(project=project, user=annotator) is None
    job = assign(project, owner, filters={"metadata": {"batch": "a"}}, annotators=["anna"])
    assert (job.status, job.changed) == ("succeeded", 3)
    assert Task.objects.filter(status="assigned", assignee=annotator).count() == 3
    task = queue.claim_next_task(project=project, user=annotator)
    assert task.status == "in_progress" and task.lease_expires_at is not None
    assert Annotation.objects.filter(task=task).exists()
    assert_counts_match(project)


def test_assigned_work_comes_in_priority_order_then_the_pool_in_mixed_mode(
    project, owner, annotator
):
    set_mode(project, owner, "mixed")
    low, high = ConversationFactory.create_batch(2, project=project, metadata={"batch": "a"})
    pool = ConversationFactory(project=project, metadata={"batch": "b"})
    Task.objects.filter(conversation=pool).update(priority=100)
    assign(project, owner, filters={"metadata": {"batch": "a"}}, annotators=["anna"])
    Task.objects.filter(conversation=high).update(priority=5)
    order = []
    for _ in range(3):
        task = queue.claim_next_task(project=project, user=annotator)
        order.append(task.conversation_id)
        submit(task, annotator)
    assert order == [high.pk, low.pk, pool.pk]


def test_pool_mode_refuses_to_assign(project, owner, conversation):
    with pytest.raises(InvalidInput, match="pool only"):
        assign(project, owner, annotators=["anna"])
    assert not AssignmentJob.objects.exists()


# --- Escalation and skipping ---


def test_needs_expert_sends_the_conversation_to_experts_first_and_only(project, owner):
    novice = member(project, "nina")
    expert = member(project, "ezra", "insurance")
    other = member(project, "otto", "banking")
    escalated = ConversationFactory(project=project)
    ConversationFactory(project=project)
    Task.objects.exclude(conversation=escalated).update(priority=50)

    task = queue.claim_next_task(project=project, user=novice)
    assert task.conversation != escalated
    queue.release_task(task_id=task.pk, user=novice)
    # Take the escalated one out of the pool the way a skip does:
    first = Task.objects.get(conversation=escalated, status="open")
    Task.objects.filter(pk=first.pk).update(status="in_progress", assignee=novice)
    Annotation.objects.create(task_id=first.pk, annotator=novice, schema=project.schemas.first())
    queue.skip_task(
        task_id=first.pk, user=novice, reason="needs_expert", expertise="Insurance", note="claims"
    )
    skipped = Task.objects.get(pk=first.pk)
    assert (skipped.status, skipped.skip_reason, skipped.note) == (
        "skipped",
        "needs_expert",
        "claims",
    )
    waiting = Task.objects.get(conversation=escalated, status="open")
    assert waiting.required_expertise.name == "insurance"

    # The expert gets it first even though the pool holds higher priorities...
    assert queue.claim_next_task(project=project, user=expert).conversation == escalated
    # ...nobody else gets it, and the skipper never sees it again.
    got = queue.claim_next_task(project=project, user=other)
    assert got is None or got.conversation != escalated


def test_skip_needs_a_known_reason_and_a_known_expertise_for_needs_expert(
    project, annotator, conversation
):
    ExpertiseTag.objects.create(name="insurance")
    task = queue.claim_next_task(project=project, user=annotator)
    with pytest.raises(InvalidInput, match='Unknown reason "bored"'):
        queue.skip_task(task_id=task.pk, user=annotator, reason="bored")
    with pytest.raises(InvalidInput, match="Name the expertise"):
        queue.skip_task(task_id=task.pk, user=annotator, reason="needs_expert")
    with pytest.raises(InvalidInput, match=r'No expertise called "insurnace" \(known: insurance\)'):
        queue.skip_task(
            task_id=task.pk, user=annotator, reason="needs_expert", expertise="insurnace"
        )
    assert Task.objects.get(pk=task.pk).status == "in_progress"
    assert Task.objects.filter(conversation=conversation).count() == 1


def test_projects_can_forbid_skipping(project, owner, annotator, conversation):
    project_services.update_project(project=project, actor=owner, allow_skip=False)
    task = queue.claim_next_task(project=project, user=annotator)
    with pytest.raises(NotAllowed, match="does not allow skipping"):
        queue.skip_task(task_id=task.pk, user=annotator, reason="unreadable")
    assert Task.objects.get(pk=task.pk).status == "in_progress"


def test_a_skipper_never_gets_the_conversation_back(project, annotator, conversation):
    task = queue.claim_next_task(project=project, user=annotator)
    queue.skip_task(task_id=task.pk, user=annotator, reason="unreadable")
    assert queue.claim_next_task(project=project, user=annotator) is None
    assert Task.objects.filter(conversation=conversation, status="open").count() == 1


def test_only_the_annotator_skips_their_task(project, annotator, reviewer, conversation):
    task = queue.claim_next_task(project=project, user=annotator)
    with pytest.raises(NotFound):
        queue.skip_task(task_id=task.pk, user=reviewer, reason="other")


def test_a_submitted_task_cannot_be_skipped_or_released(project, owner, annotator, conversation):
    task = queue.claim_next_task(project=project, user=annotator)
    submit(task, annotator)
    with pytest.raises(Conflict):
        queue.skip_task(task_id=task.pk, user=annotator, reason="other")
    with pytest.raises(Conflict):
        queue.release_task(task_id=task.pk, user=owner)


# --- Release and leases ---


def test_releasing_work_in_progress_keeps_the_draft_and_reopens_the_slot(
    project, annotator, reviewer, conversation
):
    task = queue.claim_next_task(project=project, user=annotator)
    queue.release_task(task_id=task.pk, user=annotator)
    assert Task.objects.get(pk=task.pk).status == "released"
    assert Annotation.objects.filter(task=task).exists()
    assert queue.claim_next_task(project=project, user=reviewer).conversation == conversation


def test_a_lead_may_release_anyones_task_but_annotators_only_their_own(
    project, owner, annotator, reviewer, conversation
):
    task = queue.claim_next_task(project=project, user=annotator)
    with pytest.raises(NotFound):
        queue.release_task(task_id=task.pk, user=reviewer)
    queue.release_task(task_id=task.pk, user=owner)
    assert Task.objects.get(pk=task.pk).status == "released"


def test_releasing_an_assigned_task_returns_it_unstarted(project, owner, annotator, conversation):
    set_mode(project, owner, "assigned")
    assign(project, owner, annotators=["anna"])
    task = Task.objects.get(status="assigned")
    queue.release_task(task_id=task.pk, user=annotator)
    task.refresh_from_db()
    assert (task.status, task.assignee) == ("open", None)
    assert_counts_match(project)


def test_leases_expire_on_the_clock_and_saving_extends_them(project, annotator, conversation):
    start = timezone.now()
    task = queue.claim_next_task(project=project, user=annotator, now=start)
    lease = timedelta(minutes=project.lease_minutes)
    assert queue.release_expired_leases(now=start + lease - timedelta(seconds=1)) == 0
    services.save_annotation(
        task=task, user=annotator, version=1, turns={}, conversation={}, now=start + lease / 2
    )
    assert queue.release_expired_leases(now=start + lease + timedelta(seconds=1)) == 0
    assert queue.release_expired_leases(now=start + lease * 2) == 1
    assert Task.objects.get(pk=task.pk).status == "expired"
    # An expired annotator is not handed their old task again.
    assert queue.claim_next_task(project=project, user=annotator, now=start + lease * 2) is None


def test_an_expired_escalated_task_stays_escalated(project, owner):
    expert = member(project, "ezra", "insurance")
    conversation = ConversationFactory(project=project)
    Task.objects.filter(conversation=conversation).update(
        required_expertise=ExpertiseTag.objects.get(name="insurance")
    )
    queue.recount(project)
    task = queue.claim_next_task(project=project, user=expert)
    queue.release_expired_leases(now=timezone.now() + timedelta(days=1))
    reopened = Task.objects.exclude(pk=task.pk).get(conversation=conversation)
    assert reopened.required_expertise.name == "insurance"
    assert_counts_match(project)


# --- Assignment ---


def test_distribution_balances_equal_experts_within_one(project, owner):
    set_mode(project, owner, "assigned")
    experts = [member(project, name, "insurance") for name in ("amy", "bob", "cat", "dan")]
    member(project, "eve", "banking")
    ConversationFactory.create_batch(23, project=project, metadata={"domain": "insurance"})
    job = assign(
        project,
        owner,
        action="distribute",
        expertise="insurance",
        filters={"metadata": {"domain": "insurance"}},
    )
    assert (job.status, job.changed, job.skipped) == ("succeeded", 23, 0)
    loads = [Task.objects.filter(assignee=user, status="assigned").count() for user in experts]
    assert sum(loads) == 23 and max(loads) - min(loads) <= 1
    assert not Task.objects.filter(assignee__username="eve").exists()
    assert_counts_match(project)


def test_distribution_counts_existing_load_and_fills_overlap_with_different_people(owner):
    project = ProjectFactory(created_by=owner, overlap=2, assignment_mode="assigned")
    users = [member(project, name, "hr") for name in ("amy", "bob", "cat")]
    busy = ConversationFactory.create_batch(4, project=project, metadata={"b": "old"})
    for conversation in busy:
        Task.objects.filter(conversation=conversation).filter(
            pk=Task.objects.filter(conversation=conversation).first().pk
        ).update(status="assigned", assignee=users[0])
    queue.recount(project)
    ConversationFactory.create_batch(7, project=project, metadata={"b": "new"})
    assign(project, owner, action="distribute", expertise="hr", filters={"metadata": {"b": "new"}})
    for conversation in Conversation.objects.filter(metadata__b="new"):
        assignees = list(conversation.tasks.values_list("assignee_id", flat=True))
        assert len(assignees) == 2 and len(set(assignees)) == 2
    loads = [Task.objects.filter(assignee=user).count() for user in users]
    assert max(loads) - min(loads) <= 1  # amy started 4 ahead and got less


def test_assign_gives_each_chosen_annotator_a_slot_until_the_overlap_is_full(owner):
    project = ProjectFactory(created_by=owner, overlap=2, assignment_mode="mixed")
    for name in ("amy", "bob", "cat"):
        member(project, name)
    ConversationFactory.create_batch(3, project=project)
    job = assign(project, owner, annotators=["amy", "bob", "cat"])
    # Two slots per conversation: amy and bob get them all, cat finds no room.
    assert job.changed == 6
    assert not Task.objects.filter(assignee__username="cat").exists()
    again = assign(project, owner, annotators=["amy"])
    assert (again.changed, again.skipped) == (0, 3)


def test_unassign_and_prioritize(project, owner, annotator):
    set_mode(project, owner, "assigned")
    ConversationFactory.create_batch(3, project=project, metadata={"batch": "x"})
    assign(project, owner, annotators=["anna"])
    job = assign(
        project, owner, action="prioritize", priority=9, filters={"metadata": {"batch": "x"}}
    )
    assert job.changed == 3 and set(Task.objects.values_list("priority", flat=True)) == {9}
    job = assign(project, owner, action="unassign", annotators=["anna"])
    assert job.changed == 3
    assert Task.objects.filter(status="open", assignee=None).count() == 3
    assert_counts_match(project)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"action": "shuffle"}, 'Unknown action "shuffle"'),
        ({"action": "assign", "annotators": ["ghost"]}, "Not members of this project: ghost"),
        ({"action": "distribute", "expertise": "astrology"}, 'No expertise called "astrology"'),
        ({"action": "assign"}, "Choose the annotators, or an expertise"),
        ({"action": "prioritize", "priority": "high"}, "whole number"),
        (
            {"action": "assign", "annotators": ["anna"], "filters": {"colour": "red"}},
            "Unknown filter",
        ),
        ({"action": "unassign", "filters": {"metadata": {"a b": 1}}}, 'Metadata key "a b"'),
    ],
)
def test_bad_assignments_are_refused_and_queue_nothing(project, owner, options, message):
    set_mode(project, owner, "mixed")
    ExpertiseTag.objects.create(name="unused")
    with pytest.raises(InvalidInput, match=message):
        queue.create_assignment_job(project=project, actor=owner, **options)
    assert not AssignmentJob.objects.exists()


def test_only_leads_assign(project, owner, annotator, reviewer):
    set_mode(project, owner, "mixed")
    for user in (annotator, reviewer):
        with pytest.raises(NotAllowed):
            queue.create_assignment_job(
                project=project, actor=user, action="assign", annotators=["anna"]
            )
    assert not AssignmentJob.objects.exists()


def test_a_finished_assignment_job_is_not_run_twice(project, owner, annotator):
    set_mode(project, owner, "assigned")
    ConversationFactory(project=project)
    job = assign(project, owner, annotators=["anna"])
    Task.objects.update(status="open", assignee=None)
    again = queue.run_assignment_job(job.pk)
    assert again.status == "succeeded"
    assert not Task.objects.filter(status="assigned").exists()


# --- Filters ---


def test_filters_pick_the_right_conversations(project, owner, annotator):
    data = b"".join(
        orjson.dumps(
            {
                "id": f"c{i}",
                "metadata": {"domain": "hr" if i % 2 else "it"},
                "tags": ["urgent"] if i < 2 else [],
                "turns": [{"role": "user", "text": str(i)}],
            }
        )
        + b"\n"
        for i in range(6)
    )
    result = imports.import_conversations(project=project, stream=io.BytesIO(data))
    assert result.conversations == 6

    def ids(**filters):
        found = queue.filter_conversations(project, filters).values_list("external_id", flat=True)
        return sorted(found)

    assert ids(metadata={"domain": "hr"}) == ["c1", "c3", "c5"]
    assert ids(tag="urgent") == ["c0", "c1"]
    assert ids(tag="urgent", metadata={"domain": "it"}) == ["c0"]
    assert ids(ids=["c4", "nope"]) == ["c4"]
    # The most a statement can take, one parameter each; more is a clear error.
    most = [f"x{i}" for i in range(queue.MAX_FILTER_IDS - 1)] + ["c2"]
    assert ids(ids=most) == ["c2"]
    with pytest.raises(InvalidInput, match=r'"ids" lists 50,001 conversations; at most 50,000'):
        queue.filter_conversations(project, {"ids": [*most, "one more"]})
    task = queue.claim_next_task(project=project, user=annotator)
    assert ids(status="in_progress") == [task.conversation.external_id]
    services.save_annotation(
        task=task, user=annotator, version=1, turns={}, conversation={}, submit=True
    )
    assert ids(labeled="yes") == [task.conversation.external_id]
    assert len(ids(labeled="no")) == 5


def test_the_import_batch_filter_finds_what_one_upload_brought(project, owner, tmp_path):
    for name, start in (("first.jsonl", 0), ("second.jsonl", 3)):
        path = tmp_path / name
        path.write_bytes(
            b"".join(
                orjson.dumps({"id": f"c{i}", "turns": [{"role": "user", "text": "x"}]}) + b"\n"
                for i in range(start, start + 3)
            )
        )
        job, _ = imports.import_local_file(project=project, path=path)
    found = queue.filter_conversations(project, {"import_job": job.pk})
    assert sorted(found.values_list("external_id", flat=True)) == ["c3", "c4", "c5"]


# --- Progress ---


def test_annotator_stats_show_today_this_week_median_and_open_work(project, owner, annotator):
    ConversationFactory.create_batch(3, project=project)
    now = timezone.now()
    for minutes in (4, 6):
        task = queue.claim_next_task(project=project, user=annotator, now=now)
        Annotation.objects.filter(task=task).update(started_at=now - timedelta(minutes=minutes))
        services.save_annotation(
            task=task, user=annotator, version=1, turns=DONE, conversation={}, submit=True, now=now
        )
    queue.claim_next_task(project=project, user=annotator, now=now)
    stats = {row["username"]: row for row in queue.annotator_stats(project, now=now)}
    anna = stats["anna"]
    assert (anna["submitted_today"], anna["submitted_week"], anna["open"]) == (2, 2, 1)
    assert anna["median_seconds"] == 300
    assert stats["olivia"]["submitted_week"] == 0 and stats["olivia"]["median_seconds"] is None


# --- Settings that move tasks ---


def live_per_conversation(project):
    return sorted(
        Task.objects.filter(project=project, status__in=Task.LIVE_STATUSES)
        .values("conversation_id")
        .annotate(n=Count("id"))
        .values_list("n", flat=True)
    )


def test_raising_and_lowering_the_overlap_keeps_every_conversation_at_it(project, owner, annotator):
    ConversationFactory.create_batch(4, project=project)
    started = queue.claim_next_task(project=project, user=annotator)
    queue.update_project_settings(project=project, actor=owner, overlap=3)
    assert live_per_conversation(project) == [3, 3, 3, 3]
    queue.update_project_settings(project=project, actor=owner, overlap=1)
    assert live_per_conversation(project) == [1, 1, 1, 1]
    # The task someone is working on survives; only open slots went.
    assert Task.objects.get(pk=started.pk).status == "in_progress"
    assert_counts_match(project)


def test_a_new_overlap_moves_the_counts_without_rewriting_them(project, owner):
    ConversationFactory.create_batch(4, project=project)
    # A move another transaction committed meanwhile, which a scan of the tasks could not
    # see yet: rewriting the counts from such a scan would lose it.
    queue.count_moves(project.pk, {"submitted": 5})
    queue.update_project_settings(project=project, actor=owner, overlap=3)
    assert (queue.task_counts(project)["open"], queue.task_counts(project)["submitted"]) == (12, 5)
    queue.update_project_settings(project=project, actor=owner, overlap=2)
    assert (queue.task_counts(project)["open"], queue.task_counts(project)["submitted"]) == (8, 5)


def test_switching_to_the_pool_hands_assigned_work_back(project, owner, annotator):
    set_mode(project, owner, "assigned")
    ConversationFactory.create_batch(2, project=project)
    assign(project, owner, annotators=["anna"])
    queue.update_project_settings(project=project, actor=owner, assignment_mode="pool")
    assert not Task.objects.filter(status="assigned").exists()
    assert queue.claim_next_task(project=project, user=annotator) is not None
    assert_counts_match(project)


def test_only_leads_change_settings(project, annotator, conversation):
    with pytest.raises(NotAllowed):
        queue.update_project_settings(project=project, actor=annotator, overlap=2)
    assert live_per_conversation(project) == [1]


def test_text_from_a_form_finds_numbers_and_booleans_in_metadata(project):
    ConversationFactory(project=project, external_id="n", metadata={"turns": 3, "gold": True})
    ConversationFactory(project=project, external_id="s", metadata={"turns": "3"})

    def ids(**metadata):
        found = queue.filter_conversations(project, {"metadata": metadata})
        return sorted(found.values_list("external_id", flat=True))

    assert ids(turns="3") == ["n", "s"]
    assert ids(gold="true") == ["n"]
    assert ids(turns=3) == ["n"]


def test_both_annotators_and_an_expertise_is_refused(project, owner, annotator):
    set_mode(project, owner, "mixed")
    ExpertiseTag.objects.create(name="hr")
    with pytest.raises(InvalidInput, match="not both"):
        queue.create_assignment_job(
            project=project, actor=owner, action="assign", annotators=["anna"], expertise="hr"
        )
