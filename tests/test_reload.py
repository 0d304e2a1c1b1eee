"""Hot reload: the service follows a new default model (watch and admin endpoint) without being recreated.

Uses small keyword "models" saved as real artifacts (``stub_models_dir``), so no training is needed; the
stub class lives in a module written to a temporary folder so that artifacts unpickle in any process.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from helpers import make_reload_app, save_stub, stub_module


@pytest.fixture(scope="session")
def stubs(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return stub_module(tmp_path_factory.mktemp("stubmod"))


@pytest.fixture
def models_dir(tmp_path: Path, stubs: Any) -> Path:
    d = tmp_path / "models"
    save_stub(d, "v1", make_default=True)
    save_stub(d, "v2", base=0.3)
    return d


@pytest.fixture
def svc(tmp_path: Path, models_dir: Path) -> Any:
    from conftest import make_service

    app = make_reload_app(tmp_path, models_dir)
    yield make_service(app)
    app.extensions["moderator"].engine.dispose()


def served_version(svc: Any) -> str:
    return svc.call("GET", "/v1/policy", "admin").get_json()["model_version"]


def test_watch_follows_a_new_default_without_recreating_the_app(svc: Any, models_dir: Path) -> None:
    from moderator.model import set_default

    assert served_version(svc) == "v1"
    assert svc.submit("Before the promotion.").get_json()["model_version"] == "v1"  # builds the batch scorer
    before = svc.state
    set_default(models_dir, "v2")
    time.sleep(0.06)
    assert served_version(svc) == "v2"  # this request's check noticed and (synchronously, in tests) swapped
    assert before.model.version == "v1"  # an in-flight request holding the old state keeps the old model
    assert svc.state.policy.thresholds == svc.state.model.thresholds
    r = svc.submit("A perfectly fine comment about gardening.")
    assert r.status_code == 201 and r.get_json()["model_version"] == "v2"
    detail = svc.call("GET", f"/v1/comments/{r.get_json()['id']}").get_json()
    assert detail["model_version"] == "v2" and detail["scores"]["spam"] == pytest.approx(0.3)
    metrics = svc.call("GET", "/metrics", None).get_data(as_text=True)
    assert 'moderator_model_info{version="v2"} 1.0' in metrics
    assert svc.call("GET", "/readyz", None).get_json()["model"] == "v2"


def test_watch_is_rate_limited_per_interval(tmp_path: Path, models_dir: Path) -> None:
    from conftest import make_service
    from moderator.model import set_default

    app = make_reload_app(tmp_path, models_dir, MODEL_RELOAD_INTERVAL=3600)
    s = make_service(app)
    set_default(models_dir, "v2")
    assert served_version(s) == "v1"  # not checked again within the interval
    r = s.call("POST", "/v1/admin/reload-model", "admin")
    assert r.status_code == 200, r.get_json()
    assert r.get_json() == {"model_version": "v2", "previous_version": "v1", "changed": True}
    assert served_version(s) == "v2"
    app.extensions["moderator"].engine.dispose()


def test_admin_reload_is_audited_and_admin_only(svc: Any, models_dir: Path) -> None:
    from moderator.model import set_default

    assert svc.call("POST", "/v1/admin/reload-model", "review").status_code == 403
    assert svc.call("POST", "/v1/admin/reload-model", None).status_code == 401
    r = svc.call("POST", "/v1/admin/reload-model", "admin")
    assert r.get_json() == {"model_version": "v1", "previous_version": "v1", "changed": False}
    set_default(models_dir, "v2")
    svc.app.extensions["moderator_reloader"].interval = 0  # only the endpoint reloads here
    r = svc.call("POST", "/v1/admin/reload-model", "admin")
    assert r.get_json()["changed"] is True
    events = svc.call("GET", "/v1/audit?action=model.reload", "admin").get_json()["items"]
    assert [e["data"]["to"] for e in events] == ["v2", "v1"]
    assert events[0]["actor"].startswith("key:") and events[0]["data"]["from"] == "v1"


def test_a_broken_artifact_keeps_the_old_model(svc: Any, models_dir: Path) -> None:
    (models_dir / "v3.joblib").write_bytes(b"not a model")
    (models_dir / "DEFAULT").write_text("v3\n")
    time.sleep(0.06)
    assert served_version(svc) == "v1"  # the check failed, logged, and kept serving
    assert svc.app.extensions["moderator_reloader"].last_error
    r = svc.call("POST", "/v1/admin/reload-model", "admin")
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "model_unavailable"
    assert svc.submit("Still working.").status_code == 201


def test_background_reload_swaps_after_loading(tmp_path: Path, models_dir: Path) -> None:
    from conftest import make_service
    from moderator.model import set_default

    app = make_reload_app(tmp_path, models_dir, MODEL_RELOAD_BACKGROUND=True)
    s = make_service(app)
    set_default(models_dir, "v2")
    time.sleep(0.06)
    s.call("GET", "/healthz", None)  # notices; the load runs in a thread
    app.extensions["moderator_reloader"].wait()
    assert served_version(s) == "v2"
    app.extensions["moderator"].engine.dispose()


def test_injected_model_is_not_reloaded(tmp_path: Path, models_dir: Path, stubs: Any) -> None:
    from conftest import make_service

    app = make_reload_app(tmp_path, models_dir, MODEL=stubs.StubModel("injected"))
    s = make_service(app)
    r = s.call("POST", "/v1/admin/reload-model", "admin")
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "not_reloadable"
    assert served_version(s) == "injected"
    app.extensions["moderator"].engine.dispose()


def test_policy_mapping_is_rebuilt_over_the_new_thresholds(tmp_path: Path, models_dir: Path, stubs: Any) -> None:
    from moderator.model import set_default

    save_stub(models_dir, "v4", thresholds={"hate_speech": 0.7, "obscenity": 0.7, "personal_attack": 0.7,
                                            "spam": 0.7})
    app = make_reload_app(tmp_path, models_dir, POLICY={"thresholds": {"spam": 0.2}})
    set_default(models_dir, "v4")
    app.extensions["moderator_reloader"].reload()
    st = app.extensions["moderator"]
    assert st.model.version == "v4"
    assert st.policy.thresholds == {"hate_speech": 0.7, "obscenity": 0.7, "personal_attack": 0.7, "spam": 0.2}
    st.engine.dispose()


def test_a_promotion_during_start_up_is_not_missed(tmp_path: Path, models_dir: Path) -> None:
    from moderator.model import set_default
    from moderator.service.reload import Reloader

    app = make_reload_app(tmp_path, models_dir)  # loaded v1
    set_default(models_dir, "v2")  # promoted before the reloader took its first look
    swap = app.extensions["moderator_reloader"].swap
    reloader = Reloader(lambda: app.extensions["moderator"], swap, models_dir, interval=0.01, background=False)
    time.sleep(0.02)
    reloader.check()
    assert app.extensions["moderator"].model.version == "v2"
    app.extensions["moderator"].engine.dispose()
