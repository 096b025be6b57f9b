"""AgentSettings / WindowSettings / RuleSettings: the agent's settings objects and the flat
keywords that map onto them."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from driftline.drift import AgentSettings, DriftAgent, RuleSettings, Signature, WindowSettings
from driftline.errors import InvalidInputError


@pytest.fixture(scope="module")
def sig():
    rng = np.random.default_rng(0)
    return Signature.from_data({"a": rng.normal(size=5_000), "b": rng.exponential(size=5_000)})


def _stream(seed: int, n: int, shift: float = 0.0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"a": rng.normal(shift, 1.0, n), "b": rng.exponential(size=n)}


def test_settings_and_flat_keywords_give_the_same_reports(sig):
    settings = AgentSettings(
        WindowSettings(size=1000, mode="sliding", step=250),
        RuleSettings(rule="effect", thresholds={"psi": 0.1}, drift_share=0.5),
    )
    flat = dict(window=1000, mode="sliding", step=250, rule="effect")
    flat.update(thresholds={"psi": 0.1}, drift_share=0.5)
    assert AgentSettings.from_options(**flat) == settings
    a = DriftAgent(sig, settings).update(_stream(1, 3000, 0.3))
    b = DriftAgent(sig, **flat).update(_stream(1, 3000, 0.3))
    assert len(a) == len(b) == 9
    assert [r.to_dict() for r in a] == [r.to_dict() for r in b]


def test_keywords_override_single_fields_of_settings(sig):
    base = AgentSettings(WindowSettings(size=1000), RuleSettings(rule="effect"))
    agent = DriftAgent(sig, base, window=500, drift_share=1.0)
    assert agent.settings.window == WindowSettings(size=500)
    assert agent.settings.rules == RuleSettings(rule="effect", drift_share=1.0)
    assert agent.window == 500 and base.window.size == 1000  # the base is untouched


def test_settings_are_frozen_and_copy_the_thresholds(sig):
    th = {"psi": 0.3}
    rules = RuleSettings(rule="effect", thresholds=th)
    th["psi"] = 5.0
    assert rules.thresholds_for("a")["psi"] == 0.3
    with pytest.raises(dataclasses.FrozenInstanceError):
        rules.rule = "bh"  # type: ignore[misc]
    assert RuleSettings(drift_share=0.4).required(10) == 4
    assert RuleSettings(min_drifted_features=2).required(10) == 2


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"mode": "hopping"}, "unknown window mode 'hopping'; use one of: tumbling, sliding"),
        ({"rule": "vote"}, "unknown rule 'vote'; use one of: calibrated"),
        ({"thresholds": {"bogus": 1.0}}, "unknown threshold metric 'bogus'"),
        ({"windw": 10}, "unknown agent option 'windw'"),
        ({"window": 1000, "mode": "sliding", "step": 300}, r"multiple of step \(300\)"),
        ({"window": 0}, "positive row count"),
        ({"window_seconds": 60.0}, "needs a time_column"),
    ],
)
def test_bad_settings_are_refused_with_the_accepted_values(sig, kwargs, match):
    with pytest.raises(InvalidInputError, match=match):
        DriftAgent(sig, **kwargs)


def test_state_nbytes_depends_on_the_sketch_not_on_rows(sig):
    rng = np.random.default_rng(3)
    big = Signature.from_data({"a": rng.normal(size=200_000), "b": rng.exponential(size=200_000)})
    agent = DriftAgent(big, window=None)
    before = agent.state_nbytes()
    agent.update(_stream(4, 50_000))
    assert agent.state_nbytes() == before > 0
    points = sum(r.points.size for r in agent.refs.values())
    assert before == points * 32 + sum(r.nbytes for r in agent.refs.values())
    sliding = DriftAgent(big, window=1000, mode="sliding", step=250)
    sliding.update(_stream(5, 900))
    assert sliding.state_nbytes() == 4 * points * 32 + sum(r.nbytes for r in agent.refs.values())


def test_load_state_returns_the_agent(sig):
    agent = DriftAgent(sig, window=None)
    agent.update(_stream(6, 700))
    resumed = DriftAgent(sig, window=None).load_state(agent.state().to_bytes())
    assert resumed.rows_seen == 700
    assert resumed.report().to_dict() == agent.report().to_dict()


def test_host_agents_refuse_sliding_windows_however_they_are_given(sig):
    from driftline.drift.agent_state import HostAgent

    sliding = AgentSettings(WindowSettings(size=1000, mode="sliding"))
    for kw in ({"settings": sliding}, {"window": 1000, "mode": "sliding"}):
        with pytest.raises(InvalidInputError, match="tumbling"):
            HostAgent(sig, host="h1", **kw)
    assert (
        HostAgent(sig, host="h1", settings=AgentSettings(WindowSettings(size=10)))
        .update(_stream(7, 25))[0]
        .n_rows
        == 10
    )
