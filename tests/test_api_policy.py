"""The policy (pure) and its configuration: defaults, file, environment, validation, priority."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from moderator.service.policy import Policy, PolicyError

T = {"hate_speech": 0.5, "obscenity": 0.6, "personal_attack": 0.4, "spam": 0.8}
LOW = {"hate_speech": 0.1, "obscenity": 0.1, "personal_attack": 0.1, "spam": 0.1}


def test_premoderation_holds_everything_postmoderation_publishes_clean() -> None:
    pre = Policy(thresholds=T)
    post = Policy(thresholds=T, mode="postmoderation")
    assert pre.evaluate(LOW).decision == "hold" and pre.evaluate(LOW).reasons == ("premoderation",)
    assert post.evaluate(LOW).decision == "publish" and post.evaluate(LOW).reasons == ()
    flagged = {**LOW, "personal_attack": 0.4}  # at the threshold counts
    for p in (pre, post):
        v = p.evaluate(flagged)
        assert v.decision == "hold" and v.flags == ("personal_attack",) and "flagged:personal_attack" in v.reasons


def test_priority_below_the_threshold_is_the_normalised_score() -> None:
    p = Policy(thresholds=T)
    assert p.risk(LOW) == pytest.approx(0.1 / 0.4)
    assert p.risk({**LOW, "personal_attack": 0.39999}) < 1.0
    # any flagged comment outranks any unflagged one
    assert p.risk({**LOW, "spam": 0.8}) >= 1.0 > p.risk({**LOW, "personal_attack": 0.39999})
    assert p.evaluate(LOW, duplicate_kind="same_author").priority == pytest.approx(1.0 + 0.1 / 0.4)


def test_priority_at_the_threshold_is_one_plus_the_category_weight() -> None:
    from moderator.service.priority import SEVERITY_WEIGHTS

    p = Policy(thresholds=T)
    for cat, t in T.items():
        assert p.risk({**LOW, cat: t}) == pytest.approx(1.0 + SEVERITY_WEIGHTS[cat])


def test_priority_orders_by_severity_then_margin_without_ties_at_the_top() -> None:
    p = Policy(thresholds=T)
    spam = [p.risk({**LOW, "spam": x}) for x in (0.9, 0.99, 0.999, 0.9999, 0.99999, 0.999999, 1.0)]
    assert spam == sorted(spam) and len(set(spam)) == len(spam)  # the old formula tied these at ~2.00
    # the most confident spam never outranks hate speech or a personal attack that is clearly past its threshold
    for cat in ("hate_speech", "personal_attack"):
        assert p.risk({**LOW, cat: T[cat] + 0.05}) > max(spam)
    assert p.risk({**LOW, "obscenity": 0.99}) > p.risk({**LOW, "spam": 0.99})
    # a hundred confident comments: all distinct
    xs = [1 - 10 ** -(2 + i / 20) for i in range(100)]
    assert len({p.risk({**LOW, "personal_attack": x}) for x in xs}) == 100
    # continuous: a small change in p is a small change in priority, at the threshold too
    assert abs(p.risk({**LOW, "spam": 0.8}) - p.risk({**LOW, "spam": 0.80001})) < 1e-3
    # several flagged categories rank above the strongest alone
    both = {**LOW, "personal_attack": 0.9, "obscenity": 0.9}
    assert p.risk(both) > p.risk({**LOW, "personal_attack": 0.9})


def test_priority_description_is_in_the_policy_dict() -> None:
    assert "logit" in Policy(thresholds=T).to_dict()["priority"]


def test_reject_threshold_and_duplicate_actions() -> None:
    p = Policy(thresholds=T, reject={"hate_speech": 0.9}, mode="postmoderation")
    v = p.evaluate({**LOW, "hate_speech": 0.95})
    assert v.decision == "reject" and v.reasons[0] == "reject:hate_speech"
    assert p.evaluate({**LOW, "hate_speech": 0.7}).decision == "hold"
    dup = p.evaluate(LOW, duplicate_kind="cross_author_flood")
    assert dup.decision == "hold" and dup.reasons == ("duplicate:cross_author_flood",)
    strict = Policy(thresholds=T, duplicate_action="reject")
    assert strict.evaluate(LOW, duplicate_kind="same_author").decision == "reject"
    assert Policy(thresholds=T, mode="postmoderation").evaluate(LOW, rate_limited=True).reasons == ("rate_limited",)


def test_environment_overrides_file_overrides_model(tmp_path: Path) -> None:
    f = tmp_path / "policy.json"
    f.write_text(json.dumps({"mode": "postmoderation", "thresholds": {"spam": 0.7}, "reject": {"spam": 0.95}}))
    env = {"MODERATOR_POLICY_FILE": str(f), "MODERATOR_THRESHOLD_SPAM": "0.65",
           "MODERATOR_REJECT_HATE_SPEECH": "0.99", "MODERATOR_DUPLICATE_ACTION": "reject"}
    p = Policy.from_env(T, env)
    assert p.mode == "postmoderation"
    assert p.thresholds == {**T, "spam": 0.65}
    assert p.reject == {"spam": 0.95, "hate_speech": 0.99}
    assert p.duplicate_action == "reject" and p.rate_limit_action == "reject"
    assert Policy.from_env(T, {}) == Policy(thresholds=T)
    # a setting given explicitly wins over the file even when it names the default value
    assert Policy.from_env(T, {"MODERATOR_POLICY_FILE": str(f), "MODERATOR_POLICY_MODE": "premoderation"}).mode \
        == "premoderation"


def test_toml_policy_file(tmp_path: Path) -> None:
    f = tmp_path / "policy.toml"
    f.write_text('mode = "postmoderation"\nrate_limit_action = "hold"\n[thresholds]\nobscenity = 0.75\n')
    p = Policy.from_env(T, {"MODERATOR_POLICY_FILE": str(f)})
    assert p.mode == "postmoderation" and p.rate_limit_action == "hold" and p.thresholds["obscenity"] == 0.75


@pytest.mark.parametrize("env", [
    {"MODERATOR_POLICY_MODE": "sometimes"},
    {"MODERATOR_THRESHOLD_SPAM": "high"},
    {"MODERATOR_THRESHOLD_SPAM": "1.5"},
    {"MODERATOR_THRESHOLD_SPAM": "0"},
    {"MODERATOR_REJECT_SPAM": "nan"},
    {"MODERATOR_DUPLICATE_ACTION": "ignore"},
    {"MODERATOR_RATE_LIMIT_ACTION": "drop"},
    {"MODERATOR_POLICY_FILE": "/nonexistent/policy.json"},
])
def test_invalid_configuration_fails_at_start(env: dict[str, str]) -> None:
    with pytest.raises(PolicyError):
        Policy.from_env(T, env)


@pytest.mark.parametrize("content", ['{"mode": "premoderation", "colour": "red"}', "[1, 2]", "{not json",
                                     '{"thresholds": {"rudeness": 0.5}}'])
def test_invalid_policy_file(tmp_path: Path, content: str) -> None:
    f = tmp_path / "p.json"
    f.write_text(content)
    with pytest.raises(PolicyError):
        Policy.from_env(T, {"MODERATOR_POLICY_FILE": str(f)})


def test_app_reads_policy_from_environment(make_app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODERATOR_POLICY_MODE", "postmoderation")
    monkeypatch.setenv("MODERATOR_THRESHOLD_SPAM", "0.33")
    app = make_app(POLICY=None)
    policy = app.extensions["moderator"].policy
    assert policy.mode == "postmoderation" and policy.thresholds["spam"] == 0.33
