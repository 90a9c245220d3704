"""The life-cycle table itself (pure): every (status, user action) pair is either a move or a refusal."""
from __future__ import annotations

import pytest

from orchestrator.service.lifecycle import (USER_ACTIONS, USER_TRANSITIONS, Status, allowed_actions, next_status,
                                            refusal_message)

# DESIGN.md §2, written out independently of the implementation's table.
EXPECTED = {
    "created": {"upload": "created", "upload_url": "created", "setup": "ready", "delete": "deleted"},
    "ready": {"upload": "created", "upload_url": "created", "setup": "ready", "start": "starting", "delete": "deleted"},
    "starting": {"stop": "stopped", "delete": "deleted"},
    "active": {"stop": "stopped", "delete": "deleted"},
    "stopped": {"start": "starting", "delete": "deleted"},
    "error": {"start": "starting", "delete": "deleted"},
    "done": {"delete": "deleted"},
    "deleted": {},
}


@pytest.mark.parametrize("status", [s.value for s in Status])
@pytest.mark.parametrize("action", USER_ACTIONS)
def test_every_pair(status: str, action: str) -> None:
    expected = EXPECTED[status].get(action)
    got = next_status(status, action)
    assert (got.value if got else None) == expected
    if expected is None:
        message = refusal_message(status, action)
        assert f"that is {status}" in message
        for allowed in EXPECTED[status]:
            assert allowed in message


def test_allowed_actions_match_table() -> None:
    for status in Status:
        assert set(allowed_actions(status)) == set(EXPECTED[status.value])


def test_no_user_action_leaves_deleted_or_reaches_done() -> None:
    assert not allowed_actions(Status.deleted)
    assert all(target not in (Status.done, Status.active) for target in USER_TRANSITIONS.values())
