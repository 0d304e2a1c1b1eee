"""Property-based fuzzing of the JSON API from its own OpenAPI document (schemathesis), on SQLite and PostgreSQL.

For every operation, schemathesis generates requests from the document: valid ones (positive mode) and ones
that break it on purpose (negative mode: wrong types, out-of-range query parameters, missing fields, bodies
that are not JSON objects...), path ids, query parameters and the Idempotency-Key header included. Each
response must not be a 5xx, must use a status code and content type the document declares, and must match the
declared schema. The number of examples per operation and mode is bounded (``MAX_EXAMPLES``) so the run stays
short; ``MODERATOR_FUZZ_EXAMPLES`` raises it for a longer local run.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.generation import GenerationMode  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.slow

MAX_EXAMPLES = int(os.environ.get("MODERATOR_FUZZ_EXAMPLES", "12"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def _operations() -> list[Any]:
    from moderator.web.api.openapi import build

    schema = schemathesis.openapi.from_dict(build())
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
def test_fuzzed_requests_never_get_a_5xx_and_match_the_document(service: Any, mode: GenerationMode) -> None:
    for text in ("A first comment, queued for review.", "Another one, in another thread."):
        service.submit(text, thread_id="t1")
    headers = service.headers("admin")
    seen: dict[str, set[int]] = {}

    for operation in _operations():
        if operation.path == "/metrics":
            continue  # Prometheus text: no schema to conform to, and no input
        raw = operation.definition.raw
        if mode is GenerationMode.NEGATIVE and not (raw.get("parameters") or raw.get("requestBody")):
            seen[operation.label] = set()
            continue  # no input to break

        @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case: Any) -> None:
            response = case.call_and_validate(app=service.app, headers=headers, checks=CHECKS)
            seen.setdefault(case.operation.label, set()).add(response.status_code)

        run()
    # The run exercised every operation, and not only through its error paths.
    assert len(seen) == len(_operations()) - 1
    if mode is GenerationMode.POSITIVE:
        assert any(code < 300 for code in seen["GET /v1/queue"] | seen["GET /v1/audit"]), seen
