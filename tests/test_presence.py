"""Presence without I/O: the state, the member-level diffs and the frames."""

import json

from courant.presence import (
    Diff,
    Entry,
    PresenceState,
    del_event,
    diff_between,
    diff_frame,
    set_event,
    state_frame,
)


def test_a_user_with_three_tabs_is_one_member_and_leaves_with_the_last():
    state = PresenceState()
    assert state.set("a1", Entry("ada", {"tab": 1})) == Diff(joins={"ada": [{"tab": 1}]})
    assert state.set("a2", Entry("ada", {"tab": 2})) == Diff(
        updates={"ada": [{"tab": 1}, {"tab": 2}]}
    )
    state.set("a3", Entry("ada", {"tab": 3}))
    state.set("b1", Entry("bob", {}))
    assert len(state) == 2
    assert state.entries == 4
    assert state.remove("a1") == Diff(updates={"ada": [{"tab": 2}, {"tab": 3}]})
    state.remove("a2")
    assert state.remove("a3") == Diff(leaves={"ada": [{"tab": 3}]})
    assert state.members() == {"bob": [{}]}


def test_a_meta_update_is_an_update_and_an_unchanged_one_is_nothing():
    state = PresenceState({"a1": Entry("ada", {"state": "reading"})})
    assert state.set("a1", Entry("ada", {"state": "editing"})) == Diff(
        updates={"ada": [{"state": "editing"}]}
    )
    assert not state.set("a1", Entry("ada", {"state": "editing"}))
    assert not state.remove("unknown")


def test_events_apply_in_order_and_malformed_ones_change_nothing():
    state = PresenceState()
    for event in (set_event("x1", "ada", '{"n":1}'), set_event("y1", "bob", "{}")):
        state.apply(json.loads(event))
    assert state.apply(json.loads(del_event("x1"))) == Diff(leaves={"ada": [{"n": 1}]})
    malformed: list[object] = [
        None,
        [],
        {"op": "set"},
        {"op": "set", "id": "z", "key": 1, "meta": {}},
        {"id": 3},
    ]
    for bad in malformed:
        assert not state.apply(bad)
    assert state.members() == {"bob": [{}]}


def test_a_resync_is_told_as_the_difference():
    before = PresenceState({"a": Entry("ada", {}), "b": Entry("bob", {"s": 1})})
    after = PresenceState({"b": Entry("bob", {"s": 2}), "c": Entry("cy", {})})
    assert diff_between(before, after) == Diff(
        joins={"cy": [{}]}, leaves={"ada": [{}]}, updates={"bob": [{"s": 2}]}
    )


def test_frames_carry_the_whole_state_once_then_only_changes():
    state = PresenceState({"a1": Entry("ada", {"name": "Ada"})})
    assert json.loads(state_frame("doc:1", state)) == {
        "type": "presence",
        "topic": "doc:1",
        "members": {"ada": [{"name": "Ada"}]},
    }
    assert json.loads(diff_frame("doc:1", Diff(leaves={"ada": [{"name": "Ada"}]}))) == {
        "type": "presence_diff",
        "topic": "doc:1",
        "leaves": {"ada": [{"name": "Ada"}]},
    }
