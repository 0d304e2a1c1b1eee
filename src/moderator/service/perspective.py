"""The Perspective API (``commentanalyzer`` v1alpha1) over this service: request validation, the mapping of
Perspective's attributes onto the model's categories, the answers, Google-shaped errors, the stored
suggestions and the discovery document. No web framework here (``moderator.web.api.perspective`` routes it).

Attributes (docs/perspective.md has the measured quality of each):

=================== =====================================================================================
``IDENTITY_ATTACK``  ``hate_speech``
``INSULT``           ``personal_attack``
``PROFANITY``        ``obscenity``
``SPAM``             ``spam``
``TOXICITY``         "breaks the guidelines": the largest of hate_speech, obscenity and personal_attack
``SEVERE_TOXICITY``  the largest of hate_speech and personal_attack x obscenity-or-attack agreement: an
                     attack or hate, not mild profanity alone (see :func:`severe_toxicity`)
``THREAT``           a threat cue (a hand-written pattern of intent to harm, :data:`THREAT_PATTERNS`) raised by
                     how hostile the text is; without a cue, at most 0.2 x the hostility
=================== =====================================================================================

Every value is a number in [0, 1] with ``type: "PROBABILITY"``, as Perspective's are; the direct attributes are
the model's calibrated probabilities, the derived ones are not calibrated (their ranking is what was measured).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session

from moderator.storage.models import Suggestion

API = "commentanalyzer"
VERSION = "v1alpha1"
PREFIX = f"/{VERSION}/"
ERROR_TYPE_URL = "type.googleapis.com/google.commentanalyzer.v1alpha1.Error"
CONTENT = ("hate_speech", "obscenity", "personal_attack")
DIRECT = {"IDENTITY_ATTACK": "hate_speech", "INSULT": "personal_attack", "PROFANITY": "obscenity",
          "SPAM": "spam"}
ATTRIBUTES = ("TOXICITY", "SEVERE_TOXICITY", "IDENTITY_ATTACK", "INSULT", "PROFANITY", "THREAT", "SPAM")
ID_MAX = 200
SUPPORTED_LANGUAGES = ("en",)

# Google's status names for HTTP codes (google.rpc.Code), used in every error answer on these paths.
STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
          405: "UNIMPLEMENTED", 409: "ABORTED", 413: "INVALID_ARGUMENT", 415: "INVALID_ARGUMENT",
          429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}


# ---------------------------------------------------------------- errors


class PerspectiveError(Exception):
    """An error answered in Google's shape: ``{"error": {"code", "message", "status", "details"}}``."""

    def __init__(self, code: int, message: str, details: Sequence[dict[str, Any]] = (),
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.details = code, message, list(details)
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return error_body(self.code, self.message, self.details)


def error_body(code: int, message: str, details: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": STATUS.get(code, "UNKNOWN"),
                      "details": list(details)}}


def invalid(message: str, error_type: str = "INVALID_REQUEST", **extra: Any) -> PerspectiveError:
    return PerspectiveError(400, message, [{"@type": ERROR_TYPE_URL, "errorType": error_type, **extra}])


def key_missing() -> PerspectiveError:
    return PerspectiveError(403, "The request is missing a valid API key.",
                            [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_MISSING",
                              "domain": "moderator"}])


def key_invalid() -> PerspectiveError:
    return PerspectiveError(400, "API key not valid. Please pass a valid API key.",
                            [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                              "domain": "moderator"}])


def key_forbidden(role: str) -> PerspectiveError:
    return PerspectiveError(403, f"This API key (role {role}) may not use the comment analyzer: use a key with "
                                 "the role submit or review.",
                            [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "PERMISSION_DENIED",
                              "domain": "moderator"}])


def redact_query(query: str) -> str:
    """A query string with the value of ``key`` replaced (for logs: API keys are never written there)."""
    if "key=" not in query.lower():
        return query
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode([(k, "REDACTED" if k.lower() == "key" else v) for k, v in pairs], safe="$:/,")


# ---------------------------------------------------------------- requests


_CAMEL = re.compile(r"_([a-z0-9])")


def _camel(name: str) -> str:
    """Proto field names are accepted in both JSON spellings (``client_token`` and ``clientToken``)."""
    return _CAMEL.sub(lambda m: m.group(1).upper(), name) if name.islower() else name


def _object(value: Any, where: str, allowed: Sequence[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid(f"Invalid JSON payload received. {where} must be an object.")
    out: dict[str, Any] = {}
    for k, v in value.items():
        name = _camel(k)
        if name not in allowed:
            raise invalid(f'Invalid JSON payload received. Unknown name "{k}" at \'{where}\': Cannot find field.')
        if name in out:
            raise invalid(f'Invalid JSON payload received. Field "{name}" given twice at \'{where}\'.')
        out[name] = v
    return out


def _string(value: Any, where: str, max_len: int = ID_MAX) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid(f"Invalid value at '{where}': a string is expected.")
    if len(value) > max_len:
        raise invalid(f"'{where}' is longer than {max_len} characters.")
    if "\x00" in value:
        raise invalid(f"'{where}' may not contain NUL characters.")
    return value


def _bool(value: Any, where: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise invalid(f"Invalid value at '{where}': true or false is expected.")
    return value


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid(f"Invalid value at '{where}': a number is expected.")
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise invalid(f"Invalid value at '{where}': must be between 0 and 1.")
    return value


def parse_json(raw: bytes) -> dict[str, Any]:
    """The request body: a JSON object (any content type, as Google's front end accepts)."""
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise invalid("Invalid JSON payload received. The body is not valid UTF-8.") from None
    except RecursionError:
        raise invalid("Invalid JSON payload received. The body is nested too deeply.") from None
    except ValueError as exc:
        raise invalid(f"Invalid JSON payload received. {str(exc)[:200]}") from None
    if not isinstance(data, dict):
        raise invalid("Invalid JSON payload received. The body must be a JSON object.")
    _check_unicode(data)
    return data


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _check_unicode(value: Any) -> None:
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                raise invalid("Invalid JSON payload received. A string is not valid Unicode.") from None
        elif isinstance(v, dict):
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)


def _languages(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > 20:
        raise invalid(f"Invalid value at '{where}': a list of at most 20 language codes is expected.")
    return [str(_string(v, f"{where}[{i}]", 35)) for i, v in enumerate(value)]


def base_language(code: str) -> str:
    """``en-US`` / ``en_GB`` / ``EN`` -> ``en``."""
    return re.split(r"[-_]", code.strip(), maxsplit=1)[0].lower()


def _text(comment: Any, max_chars: int) -> str:
    if comment is None:
        raise invalid("Comment must have a text: comment.text is required.", "COMMENT_EMPTY")
    obj = _object(comment, "comment", ("text", "type"))
    text = obj.get("text")
    if text is None:
        raise invalid("Comment must have a text: comment.text is required.", "COMMENT_EMPTY")
    if not isinstance(text, str):
        raise invalid("Invalid value at 'comment.text': a string is expected.")
    if not text.strip():
        raise invalid("Comment text must not be empty.", "COMMENT_EMPTY")
    if "\x00" in text:
        raise invalid("Comment text may not contain NUL characters.")
    if len(text) > max_chars:
        raise invalid(f"Comment text too long: at most {max_chars} characters.", "COMMENT_TOO_LONG")
    kind = obj.get("type")
    if kind not in (None, "PLAIN_TEXT", "TEXT_TYPE_UNSPECIFIED"):
        raise invalid(f"Comment type {str(kind)[:40]!r} is not supported: send PLAIN_TEXT.")
    return text


def _context(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    obj = _object(value, "context", ("entries", "articleAndParentComment"))
    entries = obj.get("entries", [])
    if not isinstance(entries, list) or len(entries) > 100:
        raise invalid("Invalid value at 'context.entries': a list of at most 100 entries is expected.")
    for i, e in enumerate(entries):
        entry = _object(e, f"context.entries[{i}]", ("text", "type"))
        _string(entry.get("text"), f"context.entries[{i}].text", 100_000)
    return obj


def _attribute(name: Any) -> str:
    if not isinstance(name, str) or name not in ATTRIBUTES:
        shown = str(name)[:60]
        raise invalid(f"Attribute {shown} does not exist or is not supported. Supported attributes: "
                      f"{', '.join(ATTRIBUTES)}.", "ATTRIBUTE_NOT_SUPPORTED",
                      attributeNotSupported={"attribute": shown})
    return name


@dataclass(frozen=True)
class AttributeRequest:
    score_threshold: float | None = None


@dataclass(frozen=True)
class AnalyzeRequest:
    text: str
    attributes: dict[str, AttributeRequest]
    languages: list[str] = field(default_factory=list)
    do_not_store: bool = False
    span_annotations: bool = False
    client_token: str | None = None
    session_id: str | None = None
    community_id: str | None = None


ANALYZE_FIELDS = ("comment", "context", "requestedAttributes", "languages", "doNotStore", "clientToken",
                  "sessionId", "spanAnnotations", "communityId")


def parse_analyze(data: Mapping[str, Any], max_chars: int) -> AnalyzeRequest:
    body = _object(dict(data), "AnalyzeCommentRequest", ANALYZE_FIELDS)
    text = _text(body.get("comment"), max_chars)
    requested = body.get("requestedAttributes")
    if not isinstance(requested, dict) or not requested:
        raise invalid("requestedAttributes must name at least one attribute, e.g. {\"TOXICITY\": {}}.",
                      "NO_REQUESTED_ATTRIBUTES")
    attributes: dict[str, AttributeRequest] = {}
    for name, options in requested.items():
        attr = _attribute(name)
        opts = _object(options if options is not None else {}, f"requestedAttributes.{attr}",
                       ("scoreType", "scoreThreshold"))
        score_type = opts.get("scoreType")
        if score_type not in (None, "PROBABILITY", "SCORE_TYPE_UNSPECIFIED"):
            raise invalid(f"Score type {str(score_type)[:40]} is not supported: only PROBABILITY.")
        threshold = opts.get("scoreThreshold")
        attributes[attr] = AttributeRequest(
            None if threshold is None else _number(threshold, f"requestedAttributes.{attr}.scoreThreshold"))
    _context(body.get("context"))
    return AnalyzeRequest(
        text=text, attributes=attributes, languages=_languages(body.get("languages"), "languages"),
        do_not_store=_bool(body.get("doNotStore"), "doNotStore"),
        span_annotations=_bool(body.get("spanAnnotations"), "spanAnnotations"),
        client_token=_string(body.get("clientToken"), "clientToken"),
        session_id=_string(body.get("sessionId"), "sessionId"),
        community_id=_string(body.get("communityId"), "communityId"),
    )


@dataclass(frozen=True)
class SuggestRequest:
    text: str
    attributes: dict[str, float]
    languages: list[str] = field(default_factory=list)
    context: dict[str, Any] | None = None
    client_token: str | None = None
    session_id: str | None = None
    community_id: str | None = None


# doNotStore is not a field of Perspective's suggestion, but some clients send it along: accepted, and ignored
# (a suggestion is stored to be used as training data).
SUGGEST_FIELDS = ("comment", "context", "attributeScores", "languages", "communityId", "clientToken", "sessionId",
                  "doNotStore")


def parse_suggest(data: Mapping[str, Any], max_chars: int) -> SuggestRequest:
    body = _object(dict(data), "SuggestCommentScoreRequest", SUGGEST_FIELDS)
    text = _text(body.get("comment"), max_chars)
    scores = body.get("attributeScores")
    if not isinstance(scores, dict) or not scores:
        raise invalid("attributeScores must give at least one attribute's summaryScore.value.",
                      "NO_REQUESTED_ATTRIBUTES")
    attributes: dict[str, float] = {}
    for name, entry in scores.items():
        attr = _attribute(name)
        obj = _object(entry, f"attributeScores.{attr}", ("summaryScore", "spanScores"))
        summary = _object(obj.get("summaryScore"), f"attributeScores.{attr}.summaryScore", ("value", "type"))
        if "value" not in summary:
            raise invalid(f"attributeScores.{attr}.summaryScore.value is required (0 or 1).")
        attributes[attr] = _number(summary["value"], f"attributeScores.{attr}.summaryScore.value")
    return SuggestRequest(
        text=text, attributes=attributes, languages=_languages(body.get("languages"), "languages"),
        context=_context(body.get("context")), client_token=_string(body.get("clientToken"), "clientToken"),
        session_id=_string(body.get("sessionId"), "sessionId"),
        community_id=_string(body.get("communityId"), "communityId"),
    )


def check_languages(requested: Sequence[str], detected: Any, attributes: Sequence[str]) -> list[str]:
    """The languages to answer with; raises Perspective's ``LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE`` when the
    caller names a language other than English, or names none and the comment is reliably not English.
    ``detected`` is a :class:`moderator.model.language.Guess` (None: the language check is off)."""
    attribute = attributes[0] if attributes else "TOXICITY"
    if requested:
        unsupported = [c for c in requested if base_language(c) not in SUPPORTED_LANGUAGES]
        if unsupported:
            raise invalid(f"Attribute {attribute} does not support request languages: {', '.join(unsupported)}",
                          "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE",
                          languageNotSupportedByAttributeError={"requestedLanguages": list(requested),
                                                                "attribute": attribute})
        return [base_language(c) for c in requested]
    if detected is not None and not detected.supported:
        raise invalid(f"Attribute {attribute} does not support request languages: {detected.code}",
                      "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE",
                      languageNotSupportedByAttributeError={"detectedLanguages": [detected.code],
                                                            "attribute": attribute})
    return ["en"]


def detected_languages(guess: Any) -> list[str]:
    """``detectedLanguages``: the identified language, or English when nothing reliable was found."""
    if guess is None or guess.code in ("und", ""):
        return ["en"]
    return [guess.code]


# ---------------------------------------------------------------- attributes


# A threat: intent to harm someone, said to them or about them. Matched on lower-cased text with whitespace
# collapsed; traps ("killer app", "I'd kill for a coffee", news of an attack) are what the patterns avoid.
_HARM = (r"(kill|murder|shoot|stab|hurt|beat|burn|hunt|choke|strangle|rape|bomb|slit|smash|break|gut|lynch|"
         r"hang|execute|torture|cut|punch|end|destroy|find|get)")
THREAT_PATTERNS: tuple[re.Pattern[str], ...] = tuple(re.compile(p) for p in (
    r"\b(i|we)('ll| will| am going to|'m going to|'m gonna| are going to|'re going to|'re gonna| gonna| shall"
    r"| want to| wanna|'d love to| would love to| will personally)( \w+){0,3} " + _HARM
    + r"( \w+){0,2} (you|him|her|them|your|ya|u|that|this|every|all)\b",
    r"\bi know where (you|u|he|she|they) (live|lives|work|works|sleep|sleeps)\b",
    r"\b(you|u)('ll| will|'re going to| are going to|'re gonna| are gonna| gonna) (\w+ ){0,2}"
    r"(die|pay for|regret|bleed|be sorry|be dead|get what's coming|be next)\b",
    r"\b(you're|you are|ur|your) (dead|next|a dead man|a dead woman)\b",
    r"\bwatch your back\b|\bsleep with one eye open\b|\b(coming|come) for (you|u|him|her|them)\b",
    r"\b(should|ought to|deserve to|deserves to|needs to|need to) (be )?(die|killed|shot|hanged|hung|lynched|"
    r"burned|burnt|executed|gassed|stabbed|beaten)\b",
    r"\b(kill|shoot|hang|burn|gas|lynch|stab|behead) (yourself|urself|them all|all of them|every one of them)\b",
    r"\bdeath to (all )?(the )?\w+",
    r"\b(put|send) (a|one) bullet (in|through)\b|\bput you in (the ground|a grave|hospital)\b",
))


def threat_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of threat cues in ``text`` (offsets into the lower-cased text, which keeps lengths
    for all but a few exotic characters; spans are clipped to the text)."""
    low = text.lower()
    spans: list[tuple[int, int]] = []
    for pattern in THREAT_PATTERNS:
        spans.extend((m.start(), min(m.end(), len(text))) for m in pattern.finditer(low))
    return sorted(set(spans))


def toxicity(scores: Mapping[str, float]) -> float:
    return max(float(scores.get(c, 0.0)) for c in CONTENT)


def severe_toxicity(scores: Mapping[str, float]) -> float:
    """Hate, or an attack that the other signals agree on: ``max(hate, attack x max(attack, obscenity))``.
    Mild profanity alone (obscenity high, attack and hate low) stays low, as in Perspective's attribute."""
    hate = float(scores.get("hate_speech", 0.0))
    attack = float(scores.get("personal_attack", 0.0))
    obscene = float(scores.get("obscenity", 0.0))
    return max(hate, attack * max(attack, obscene))


def threat(scores: Mapping[str, float], text: str) -> float:
    """A threat cue lifts the score to at least 0.6, more with a hostile text; without one, at most 0.2. A model
    with a ``threat`` category of its own is used directly (with the cues as a floor)."""
    hostility = max(float(scores.get("personal_attack", 0.0)), float(scores.get("hate_speech", 0.0)))
    cue = 0.6 + 0.4 * hostility if threat_spans(text) else 0.2 * hostility
    if "threat" in scores:
        return max(float(scores["threat"]), cue if cue >= 0.6 else 0.0)
    return cue


def attribute_value(attribute: str, scores: Mapping[str, float], text: str) -> float:
    if attribute in DIRECT:
        return float(scores.get(DIRECT[attribute], 0.0))
    if attribute == "TOXICITY":
        return toxicity(scores)
    if attribute == "SEVERE_TOXICITY":
        return severe_toxicity(scores)
    if attribute == "THREAT":
        return threat(scores, text)
    raise KeyError(attribute)


def source_category(attribute: str, scores: Mapping[str, float]) -> str | None:
    """The category whose explanation gives an attribute's spans (None: THREAT, whose spans are its cues)."""
    if attribute in DIRECT:
        return DIRECT[attribute]
    if attribute == "TOXICITY":
        return max(CONTENT, key=lambda c: float(scores.get(c, 0.0)))
    if attribute == "SEVERE_TOXICITY":
        return max(("hate_speech", "personal_attack"), key=lambda c: float(scores.get(c, 0.0)))
    return None


def _value(v: float) -> dict[str, Any]:
    return {"value": round(min(max(float(v), 0.0), 1.0), 6), "type": "PROBABILITY"}


def span_scores(attribute: str, value: float, scores: Mapping[str, float], text: str,
                explain: Callable[[str, str], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """``spanScores`` of one attribute: the spans the model's explanation gives for its category, each scored
    with the attribute's value times the span's share of the strongest span's weight (so the strongest span
    carries the attribute's value); THREAT's spans are its cues."""
    category = source_category(attribute, scores)
    if category is None:
        return [{"begin": b, "end": e, "score": _value(value)} for b, e in threat_spans(text)]
    spans = [s for s in explain(text, category) if float(s["weight"]) > 0]
    if not spans:
        return []
    top = max(float(s["weight"]) for s in spans)
    out = [{"begin": int(s["start"]), "end": int(s["end"]), "score": _value(value * float(s["weight"]) / top)}
           for s in spans]
    return sorted(out, key=lambda s: (s["begin"], s["end"]))


def analyze_response(req: AnalyzeRequest, scores: Mapping[str, float], languages: list[str],
                     detected: list[str], explain: Callable[[str, str], list[dict[str, Any]]] | None
                     ) -> dict[str, Any]:
    """The AnalyzeCommentResponse: an attribute below its ``scoreThreshold`` is left out, as Perspective does."""
    attribute_scores: dict[str, Any] = {}
    for attr, options in req.attributes.items():
        value = attribute_value(attr, scores, req.text)
        if options.score_threshold is not None and value < options.score_threshold:
            continue
        entry: dict[str, Any] = {"summaryScore": _value(value)}
        if req.span_annotations and explain is not None:
            entry["spanScores"] = span_scores(attr, value, scores, req.text, explain)
        attribute_scores[attr] = entry
    out: dict[str, Any] = {"attributeScores": attribute_scores, "languages": languages,
                           "detectedLanguages": detected}
    if req.client_token is not None:
        out["clientToken"] = req.client_token
    return out


# ---------------------------------------------------------------- suggestions


def suggestion_labels(attributes: Mapping[str, float], flags: Sequence[str]) -> dict[str, int]:
    """The categories' labels a suggestion gives (a value of 0.5 or more is a "yes"):

    * a direct attribute labels its category (``INSULT`` 1 -> personal_attack 1, 0 -> 0);
    * ``TOXICITY`` 0 -> hate_speech, obscenity and personal_attack 0 (Coral's "approved"); 1 -> positive for
      the content categories the model flags now, no label for the others (the site said "toxic" without
      saying how: as a moderator's reject without categories, ``moderator.training.feedback.labels_for``);
    * ``SEVERE_TOXICITY`` 0 -> hate_speech and personal_attack 0 (mild profanity may still be there); 1 -> as
      TOXICITY 1 over those two;
    * ``THREAT`` 1 -> personal_attack 1 (a threat against a person is an attack); 0 says nothing.

    A direct attribute wins over what a derived one implies."""
    labels: dict[str, int] = {}
    yes = {a: v >= 0.5 for a, v in attributes.items()}
    for attr, among in (("TOXICITY", CONTENT), ("SEVERE_TOXICITY", ("hate_speech", "personal_attack"))):
        if attr not in yes:
            continue
        if yes[attr]:
            labels.update({c: 1 for c in among if c in flags})
        else:
            labels.update({c: 0 for c in among})
    if yes.get("THREAT"):
        labels["personal_attack"] = 1
    for attr, category in DIRECT.items():
        if attr in yes:
            labels[category] = int(yes[attr])
    return dict(sorted(labels.items()))


def store_suggestion(session: Session, req: SuggestRequest, *, labels: dict[str, int], scores: Mapping[str, float],
                     model_version: str, actor_ref: str, now: datetime) -> tuple[Suggestion, bool]:
    """Insert the suggestion, or update the row of the same (community, client token); ``(row, created)``.
    The caller commits (and retries once on a unique-constraint race)."""
    community = req.community_id or ""
    row = None
    if req.client_token is not None:
        row = session.scalar(select(Suggestion).where(Suggestion.community_id == community,
                                                      Suggestion.client_token == req.client_token))
    created = row is None
    if row is None:
        row = Suggestion(community_id=community, client_token=req.client_token, created_at=now)
        session.add(row)
    row.session_id = req.session_id
    row.text = req.text
    row.attributes = dict(req.attributes)
    row.labels = labels
    row.languages = list(req.languages) or None
    row.context = req.context
    row.scores = {k: float(v) for k, v in scores.items()}
    row.model_version = model_version
    row.submitted_by = actor_ref
    row.updated_at = now
    session.flush()
    return row, created


def suggest_response(req: SuggestRequest, detected: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"requestedLanguages": list(req.languages), "detectedLanguages": detected}
    if req.client_token is not None:
        out["clientToken"] = req.client_token
    return out


# ---------------------------------------------------------------- discovery


def _method(name: str, request: str, response: str, description: str) -> dict[str, Any]:
    return {"id": f"{API}.comments.{name}", "path": f"{VERSION}/comments:{name}",
            "flatPath": f"{VERSION}/comments:{name}", "httpMethod": "POST", "parameters": {},
            "parameterOrder": [], "request": {"$ref": request}, "response": {"$ref": response},
            "description": description}


def _schemas() -> dict[str, Any]:
    def obj(name: str, props: dict[str, Any]) -> dict[str, Any]:
        return {"id": name, "type": "object", "properties": props}

    s = {"type": "string"}
    b = {"type": "boolean"}
    num = {"type": "number", "format": "float"}
    strings = {"type": "array", "items": s}
    return {
        "TextEntry": obj("TextEntry", {"text": s, "type": {"type": "string", "enum": ["TEXT_TYPE_UNSPECIFIED",
                                                                                        "PLAIN_TEXT", "HTML"]}}),
        "Context": obj("Context", {"entries": {"type": "array", "items": {"$ref": "TextEntry"}},
                                   "articleAndParentComment": {"type": "object"}}),
        "AttributeParameters": obj("AttributeParameters", {"scoreType": s, "scoreThreshold": num}),
        "Score": obj("Score", {"value": num, "type": s}),
        "SpanScore": obj("SpanScore", {"begin": {"type": "integer", "format": "int32"},
                                       "end": {"type": "integer", "format": "int32"}, "score": {"$ref": "Score"}}),
        "AttributeScores": obj("AttributeScores", {"summaryScore": {"$ref": "Score"},
                                                   "spanScores": {"type": "array", "items": {"$ref": "SpanScore"}}}),
        "AnalyzeCommentRequest": obj("AnalyzeCommentRequest", {
            "comment": {"$ref": "TextEntry"}, "context": {"$ref": "Context"},
            "requestedAttributes": {"type": "object", "additionalProperties": {"$ref": "AttributeParameters"}},
            "languages": strings, "doNotStore": b, "clientToken": s, "sessionId": s, "spanAnnotations": b,
            "communityId": s}),
        "AnalyzeCommentResponse": obj("AnalyzeCommentResponse", {
            "attributeScores": {"type": "object", "additionalProperties": {"$ref": "AttributeScores"}},
            "languages": strings, "detectedLanguages": strings, "clientToken": s}),
        "SuggestCommentScoreRequest": obj("SuggestCommentScoreRequest", {
            "comment": {"$ref": "TextEntry"}, "context": {"$ref": "Context"},
            "attributeScores": {"type": "object", "additionalProperties": {"$ref": "AttributeScores"}},
            "languages": strings, "communityId": s, "clientToken": s, "sessionId": s}),
        "SuggestCommentScoreResponse": obj("SuggestCommentScoreResponse", {
            "detectedLanguages": strings, "requestedLanguages": strings, "clientToken": s}),
    }


def discovery_document(root_url: str) -> dict[str, Any]:
    """The API's discovery document (the format ``google-api-python-client`` builds a client from), with this
    service's public URL (ending in ``/``) as ``rootUrl``."""
    root = root_url if root_url.endswith("/") else root_url + "/"
    query = {"type": "string", "location": "query"}
    return {
        "kind": "discovery#restDescription", "discoveryVersion": "v1", "id": f"{API}:{VERSION}", "name": API,
        "version": VERSION, "revision": "1", "title": "Perspective Comment Analyzer API (moderator)",
        "description": "The Perspective API's comment analyzer, served by a self-hosted moderator service: "
                       "attributes are mapped onto the service's model (English only).",
        "protocol": "rest", "rootUrl": root, "servicePath": "", "baseUrl": root, "batchPath": "batch",
        "documentationLink": "https://github.com/moderator/docs/perspective.md",
        "parameters": {
            "key": {**query, "description": "An API key of this service (role submit or review)."},
            "alt": {**query, "default": "json", "enum": ["json"], "enumDescriptions": ["JSON"]},
            "prettyPrint": {"type": "boolean", "location": "query", "default": "true"},
            "fields": query, "quotaUser": query, "$.xgafv": {**query, "enum": ["1", "2"]},
            "callback": query, "access_token": query, "oauth_token": query, "upload_protocol": query,
            "uploadType": query,
        },
        "auth": {},
        "schemas": _schemas(),
        "resources": {"comments": {"methods": {
            "analyze": _method("analyze", "AnalyzeCommentRequest", "AnalyzeCommentResponse",
                               "Analyzes the provided text and returns scores for the requested attributes."),
            "suggestscore": _method("suggestscore", "SuggestCommentScoreRequest", "SuggestCommentScoreResponse",
                                    "Suggest comment scores as training data."),
        }}},
    }


__all__ = ["ATTRIBUTES", "PREFIX", "AnalyzeRequest", "PerspectiveError", "SuggestRequest", "analyze_response",
           "attribute_value", "check_languages", "detected_languages", "discovery_document", "error_body",
           "key_forbidden", "key_invalid", "key_missing", "parse_analyze", "parse_json", "parse_suggest",
           "redact_query", "severe_toxicity", "store_suggestion", "suggest_response", "suggestion_labels",
           "threat", "threat_spans", "toxicity"]
