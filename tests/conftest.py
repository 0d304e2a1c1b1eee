"""Shared fixtures for the service tests (flaskr / datasette style).

* ``model``: the real shipped model (``load_model()``), loaded once per session.
* ``db_url``: parametrised over SQLite and PostgreSQL. SQLite: a migrated template file copied per test.
  PostgreSQL (``MODERATOR_TEST_POSTGRES_URL``, default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``):
  one schema unique to this run (dropped at the end), migrated once, tables emptied before each test;
  skipped, with the reason, only when no server answers.
* ``make_app(**config)``: an app on that database with an injected clock and no duplicate detector unless
  given; ``service``: a ready app with a client and one API key per role.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from helpers import Clock

PG_URL = os.environ.get("MODERATOR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _tables() -> list[str]:
    """Every table of the schema, children before parents (emptied before each PostgreSQL test)."""
    from moderator.storage.models import Base

    return [t.name for t in reversed(Base.metadata.sorted_tables)]


@pytest.fixture(scope="session")
def model() -> Any:
    from moderator import load_model

    return load_model()


# ---------------------------------------------------------------- databases


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from moderator.storage.db import migrate

    path = tmp_path_factory.mktemp("template") / "moderator.db"
    migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_schema_url() -> Iterator[str]:
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_URL, connect_args={"connect_timeout": 3})
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        admin.dispose()
        pytest.skip(f"PostgreSQL not reachable at {PG_URL} ({type(exc).__name__}): PostgreSQL tests skipped")
    schema = f"moderator_test_{uuid.uuid4().hex[:10]}"
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    url = f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    from moderator.storage.db import migrate

    migrate(url)
    yield url
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        target = tmp_path / "db" / "moderator.db"
        target.parent.mkdir()
        shutil.copy(template, target)
        return f"sqlite:///{target}"
    url = request.getfixturevalue("pg_schema_url")
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:  # DELETE + setval: much faster than TRUNCATE on small tables
        tables = _tables()
        conn.execute(text("; ".join(f"DELETE FROM {t}" for t in tables)))
        conn.execute(text("SELECT " + ", ".join(f"setval(pg_get_serial_sequence('{t}', 'id'), 1, false)"
                                                for t in tables)))
    engine.dispose()
    return url


# ---------------------------------------------------------------- app


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_app(db_url: str, tmp_path: Path, model: Any, clock: Clock) -> Iterator[Callable[..., Any]]:
    from moderator.web.app import create_app

    apps: list[Any] = []

    def factory(**config: Any) -> Any:
        cfg: dict[str, Any] = {
            "TESTING": True,
            "MODERATOR_HOME": str(tmp_path / "home"),
            "DATABASE_URL": db_url,
            "MODEL": model,
            "CLOCK": clock,
            "DUPLICATE_DETECTOR": None,
            "VALIDATE_RESPONSES": True,
            # The full model scores at submit, so stored versions and scores are the fixture model's;
            # deferred scoring (the production default) has its own tests in test_refine.py.
            "ENCODER_MODE": "inline",
            # Webhook delivery is driven by hand in tests (test_webhooks.py starts the worker where it needs it).
            "WEBHOOKS_WORKER": False,
        }
        cfg.update(config)
        app = create_app(cfg)
        apps.append(app)
        return app

    yield factory
    for app in apps:
        refiner = app.extensions.get("moderator_refiner")
        if refiner is not None:
            refiner.stop()
        retention = app.extensions.get("moderator_ip_retention")
        if retention is not None:
            retention.stop()
        worker = app.extensions.get("moderator_webhooks")
        if worker is not None:
            worker.stop()
        app.extensions["moderator"].engine.dispose()


def create_key(app: Any, role: str, name: str | None = None) -> str:
    from moderator.service import keys as auth
    from moderator.service.audit import Actor
    from moderator.storage.db import write_session

    st = app.extensions["moderator"]
    with write_session(st.sessionmaker) as session:
        _, token = auth.create_key(session, name or f"test {role}", role, Actor("cli:test", "tests", "admin"),
                                   st.clock())
    return token


@dataclass
class Service:
    """An app, its test client and one key per role (plus a second moderator)."""

    app: Any
    client: Any
    keys: dict[str, str] = field(default_factory=dict)

    def headers(self, role: str | None) -> dict[str, str]:
        return {} if role is None else {"Authorization": f"Bearer {self.keys[role]}"}

    def call(self, method: str, url: str, role: str | None = "admin", **kw: Any) -> Any:
        headers = {**self.headers(role), **kw.pop("headers", {})}
        return self.client.open(url, method=method, headers=headers, **kw)

    def submit(self, text: str = "Thanks for the thoughtful article, I learned a lot.", role: str = "submit",
               **fields: Any) -> Any:
        body = {"text": text, "author_id": "author-1", "thread_id": "thread-1", **fields}
        return self.call("POST", "/v1/comments", role, json=body)

    @property
    def state(self) -> Any:
        return self.app.extensions["moderator"]


def make_service(app: Any) -> Service:
    svc = Service(app, app.test_client())
    for role in ("submit", "review", "admin"):
        svc.keys[role] = create_key(app, role)
    svc.keys["review2"] = create_key(app, "review", "second moderator")
    return svc


@pytest.fixture
def service(make_app: Callable[..., Any]) -> Service:
    return make_service(make_app())


@pytest.fixture
def make_service_fixture(make_app: Callable[..., Any]) -> Callable[..., Service]:
    def factory(**config: Any) -> Service:
        return make_service(make_app(**config))

    return factory
