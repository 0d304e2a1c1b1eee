"""Request and response bodies of the JSON API (pydantic). The OpenAPI document is generated from these.

Requests are validated strictly (``extra="forbid"``, strict types: ``"1"`` is not an int, ``1`` is not a
string). Response models document what the API returns; tests validate real responses against them.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator

from moderator import CATEGORIES

Category = Literal["hate_speech", "obscenity", "personal_attack", "spam"]
assert set(Category.__args__) == set(CATEGORIES)  # type: ignore[attr-defined]

MAX_BATCH = 100
ID_MAX = 200
EXPLAIN_MAX_SPANS = 10  # spans per flagged category in a /v1/score explanation


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


# ---------------------------------------------------------------- requests


# What the API accepts as a comment's text (checked by ``api.check_text``; the length limit is the setting
# MODERATOR_MAX_TEXT_CHARS): documented here so that generated clients and fuzzers know it.
TEXT_SCHEMA: dict[str, Any] = {
    "type": "string", "minLength": 1, "pattern": "\\S",
    "description": "Not empty, nor only whitespace and invisible characters (zero-width, format, lone combining "
                   "marks); at most MODERATOR_MAX_TEXT_CHARS characters (default 20,000)",
}


class ScoreRequest(Strict):
    """Exactly one of ``text`` or ``texts`` (1 to 100).

    Each request has a cost budget, checked before any work is done: the texts together may hold at most
    MODERATOR_MAX_REQUEST_CHARS characters (default 200,000), and at most MODERATOR_MAX_EXPLAIN_CHARS
    (default 20,000) with ``explain``. Over either, the answer is 413 with the error code
    ``request_too_large`` (field ``texts``/``text``, or ``explain`` for the explanation budget); nothing is
    truncated. Each explanation lists at most 10 spans.
    """

    model_config = ConfigDict(extra="forbid", strict=True,
                              json_schema_extra={"oneOf": [{"required": ["text"]}, {"required": ["texts"]}]})

    text: Annotated[str | None, WithJsonSchema(TEXT_SCHEMA)] = None
    texts: Annotated[list[str] | None, WithJsonSchema(
        {"type": "array", "items": TEXT_SCHEMA, "minItems": 1, "maxItems": MAX_BATCH})] = Field(
        default=None, min_length=1, max_length=MAX_BATCH)
    explain: bool = Field(default=False, description=(
        "Also return, per flagged category, the spans that drove it (at most 10, strongest first); the texts "
        "together may then hold at most MODERATOR_MAX_EXPLAIN_CHARS characters (default 20,000)"))


class SubmitRequest(Strict):
    text: Annotated[str, WithJsonSchema(TEXT_SCHEMA)]
    author_id: str = Field(min_length=1, max_length=ID_MAX)
    thread_id: str = Field(min_length=1, max_length=ID_MAX)
    external_id: str | None = Field(default=None, min_length=1, max_length=ID_MAX)
    author_ip: Annotated[str | None, WithJsonSchema(
        {"anyOf": [{"type": "string", "format": "ipv4"}, {"type": "string", "format": "ipv6"}, {"type": "null"}],
         "description": "IPv4 or IPv6 address"})] = Field(default=None, max_length=64)
    metadata: dict[str, Any] | None = Field(default=None, description="Any JSON object, stored as given")

    @field_validator("author_ip")
    @classmethod
    def _ip(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            raise ValueError("not an IP address") from None


class ClaimRequest(Strict):
    """An empty object (or no body)."""


class DecisionRequest(Strict):
    decision: Literal["approve", "reject"]
    reason: str | None = Field(default=None, max_length=2000)
    categories: list[Category] | None = Field(default=None, max_length=len(CATEGORIES))
    version: int | None = Field(default=None, ge=1, le=2**31 - 1, description="Expected item version (optimistic lock)")


# ---------------------------------------------------------------- responses


class Open(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(Open):
    code: str
    message: str
    field: str | None


class ErrorResponse(Open):
    error: ErrorDetail


class Span(Open):
    start: int
    end: int
    text: str
    weight: float


class LanguageMark(Open):
    """The comment's language (MODERATOR_LANGUAGE_CHECK): ``supported`` false means the model cannot read it
    and its scores are an English model's guess."""

    code: str = Field(description="ISO 639-1 code; 'en' or 'und' (undetermined) when not reliably another")
    supported: bool


class ScoreResult(Open):
    scores: dict[str, float]
    flags: list[str]
    explanations: dict[str, list[Span]] | None = None
    language: LanguageMark | None = None


class ScoreResponse(Open):
    model_version: str
    results: list[ScoreResult]


class Duplicate(Open):
    is_duplicate: bool
    kind: str
    of: int
    similarity: float


# Where a comment stands now (moderator.service.lifecycle.STATES) and the policy's decision on its text.
State = Literal["pending", "approved", "rejected", "published", "withdrawn", "erased"]
STATE_DESCRIPTION = ("Where the comment stands now: pending (waiting for a moderator), approved (by a moderator), "
                     "rejected (by a moderator or by the policy at intake), published (by the policy, without a "
                     "moderator), withdrawn (by the site), erased (its author's data was erased)")
INTAKE_DESCRIPTION = "The policy's decision on the comment's current text: publish, hold or reject"
LEGACY_STATUS_DESCRIPTION = ("Deprecated: use state. Whether the site may show the comment now: published "
                             "(approved or published), held (pending), rejected (rejected, withdrawn or erased)")
LEGACY_DECISION_DESCRIPTION = "Deprecated: the same as intake_decision"


class SubmitResponse(Open):
    id: int
    state: State = Field(description=STATE_DESCRIPTION)
    intake_decision: Literal["publish", "hold", "reject"] = Field(description=INTAKE_DESCRIPTION)
    status: Literal["published", "held", "rejected"] = Field(description=LEGACY_STATUS_DESCRIPTION,
                                                             json_schema_extra={"deprecated": True})
    decision: Literal["publish", "hold", "reject"] = Field(description=LEGACY_DECISION_DESCRIPTION,
                                                           json_schema_extra={"deprecated": True})
    scores: dict[str, float]
    flags: list[str]
    reasons: list[str]
    duplicate: Duplicate | None
    priority: float | None
    model_version: str
    created_at: str
    language: LanguageMark | None = None


class ReviewState(Open):
    status: Literal["pending", "approved", "rejected", "withdrawn", "closed"] = Field(description=(
        "The review item: pending, approved, rejected; withdrawn (the comment was withdrawn or erased while "
        "pending), closed (an edit the policy did not hold took it out of the queue)"))
    priority: float
    version: int
    claimed_by: str | None
    claimed_until: str | None


class DecisionOut(Open):
    decision: Literal["approve", "reject"]
    reason: str | None
    categories: list[str]
    actor: str
    actor_name: str
    at: str


class HistoryOut(Open):
    action: str
    actor: str
    from_status: str | None
    to_status: str | None
    data: dict[str, Any] | None
    at: str


class CommentDetail(Open):
    id: int
    external_id: str | None
    author_id: str
    thread_id: str
    author_ip: str | None
    text: str
    metadata: dict[str, Any] | None
    state: State = Field(description=STATE_DESCRIPTION)
    intake_decision: Literal["publish", "hold", "reject"] = Field(description=INTAKE_DESCRIPTION)
    status: Literal["published", "held", "rejected"] = Field(description=LEGACY_STATUS_DESCRIPTION,
                                                             json_schema_extra={"deprecated": True})
    decision: Literal["publish", "hold", "reject"] = Field(description=LEGACY_DECISION_DESCRIPTION,
                                                           json_schema_extra={"deprecated": True})
    reasons: list[str]
    flags: list[str]
    duplicate: Duplicate | None
    scores: dict[str, float]
    model_version: str
    created_at: str
    updated_at: str
    review: ReviewState | None
    decisions: list[DecisionOut]
    history: list[HistoryOut]


class ReportSummary(Open):
    """Open readers' reports on a comment: how many, their total weight, how many per reason."""

    count: int
    weight: float
    reasons: dict[str, int]


class QueueItem(Open):
    id: int = Field(description="The comment id")
    priority: float
    status: Literal["pending", "approved", "rejected"]
    scores: dict[str, float]
    flags: list[str]
    reasons: list[str]
    duplicate: Duplicate | None
    text: str
    author_id: str
    thread_id: str
    external_id: str | None
    created_at: str
    version: int
    claimed_by: str | None
    claimed_until: str | None
    reports: ReportSummary | None = None


class QueueResponse(Open):
    items: list[QueueItem]
    next_cursor: str | None


class ClaimResponse(Open):
    id: int
    status: Literal["pending"]
    version: int
    claimed_by: str
    claimed_until: str


class DecisionResponse(Open):
    id: int
    status: Literal["approved", "rejected"]
    comment_status: Literal["published", "rejected"]
    version: int
    decision: DecisionOut


class AuditEventOut(Open):
    id: int
    at: str
    actor: str
    actor_name: str
    action: str
    target_type: str | None
    target_id: str | None
    data: dict[str, Any] | None


class AuditResponse(Open):
    items: list[AuditEventOut]
    next_cursor: str | None


class RejectReasonOut(Open):
    code: str
    label: str
    category: str | None


class PolicyResponse(Open):
    mode: Literal["premoderation", "postmoderation"]
    thresholds: dict[str, float]
    reject: dict[str, float]
    duplicate_action: Literal["hold", "reject"]
    rate_limit_action: Literal["reject", "hold"]
    reject_reasons: list[RejectReasonOut]
    priority: str
    model_version: str


class HealthResponse(Open):
    status: Literal["ok"]


class DependencyStatus(Open):
    up: bool
    detail: str


class ReadyResponse(Open):
    status: Literal["ready", "unavailable"]
    model: str | None
    database: str
    dependencies: dict[str, DependencyStatus]
    redis: str | None = None  # MODERATOR_DUP_BACKEND=redis only: "ok" or "unavailable: <why>"



# ---------------------------------------------------------------- a comment's lifecycle (web/api/lifecycle.py)


class EditRequest(Strict):
    text: Annotated[str, WithJsonSchema(TEXT_SCHEMA)]


class ReopenRequest(Strict):
    """An empty object (or no body), or a reason."""

    reason: str | None = Field(default=None, max_length=2000)


class CommentList(Open):
    items: list[CommentDetail]


class ErasureResponse(Open):
    author_id: str
    comments: int = Field(description="How many comments of the author were erased (earlier erasures included)")
    comment_ids: list[int]
