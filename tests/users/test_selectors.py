"""The social-graph selectors that later features build on."""

from __future__ import annotations

import pytest

from tests.factories import BlockFactory, FollowFactory, UserFactory
from users.selectors import blocked_user_ids, friend_ids


@pytest.mark.django_db
def test_blocked_user_ids_covers_both_directions(django_assert_num_queries):
    me, i_blocked, blocked_me, both_ways, stranger = UserFactory.create_batch(5)
    BlockFactory(blocker=me, blocked=i_blocked)
    BlockFactory(blocker=blocked_me, blocked=me)
    BlockFactory(blocker=me, blocked=both_ways)
    BlockFactory(blocker=both_ways, blocked=me)
    BlockFactory(blocker=stranger, blocked=i_blocked)  # not about me

    with django_assert_num_queries(1):
        result = blocked_user_ids(user=me)
    assert result == {i_blocked.pk, blocked_me.pk, both_ways.pk}
    assert blocked_user_ids(user=stranger) == {i_blocked.pk}
    assert blocked_user_ids(user=UserFactory()) == set()


@pytest.mark.django_db
def test_friend_ids_are_mutual_follows_only(django_assert_num_queries):
    me, friend, i_follow, follows_me, other_pair = UserFactory.create_batch(5)
    FollowFactory(follower=me, followee=friend)
    FollowFactory(follower=friend, followee=me)
    FollowFactory(follower=me, followee=i_follow)
    FollowFactory(follower=follows_me, followee=me)
    FollowFactory(follower=other_pair, followee=friend)
    FollowFactory(follower=friend, followee=other_pair)

    with django_assert_num_queries(1):
        result = friend_ids(user=me)
    assert result == {friend.pk}
    assert friend_ids(user=friend) == {me.pk, other_pair.pk}
    assert friend_ids(user=i_follow) == set()
