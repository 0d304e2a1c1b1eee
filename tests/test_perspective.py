"""The Perspective-compatible API (``/v1alpha1/comments:analyze``, ``:suggestscore``, the discovery document):
Coral Talk's exact request bodies, Google-shaped errors for every bad request, scoreThreshold, spanScores,
doNotStore, the optional submission, suggestions as labelled examples, and Google's own Python client against a
live ``moderator serve``."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

ANALYZE = "/v1alpha1/comments:analyze"
SUGGEST = "/v1alpha1/comments:suggestscore"
ALL = ["TOXICITY", "SEVERE_TOXICITY", "IDENTITY_ATTACK", "INSULT", "PROFANITY", "THREAT", "SPAM"]
INSULT_TEXT = "You are a pathetic idiot and a moron, nobody wants you here."
CLEAN_TEXT = "Thanks for the clear report on the new library opening hours."


def post(svc: Any, path: str, body: Any, key: str | None = "submit", raw: bytes | None = None,
         **kw: Any) -> Any:
    url = path if key is None else f"{path}?key={svc.keys[key]}"
    data = raw if raw is not None else json.dumps(body).encode()
    return svc.client.post(url, data=data, content_type=kw.pop("content_type", "application/json"), **kw)


def assert_google_error(resp: Any, code: int, error_type: str | None = None) -> dict[str, Any]:
    assert resp.status_code == code, resp.get_data(as_text=True)
    body = resp.get_json()
    assert set(body) == {"error"}
    err = body["error"]
    assert set(err) == {"code", "message", "status", "details"}
    assert err["code"] == code and err["message"] and isinstance(err["details"], list)
    assert err["status"] == {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                             405: "UNIMPLEMENTED"}[code]
    if error_type is not None:
        assert any(d.get("errorType") == error_type for d in err["details"]), err
    return err


def counts(svc: Any) -> tuple[int, int]:
    from moderator.storage.models import Comment, Suggestion

    with svc.state.sessionmaker() as session:
        return (session.scalar(select(func.count()).select_from(Comment)) or 0,
                session.scalar(select(func.count()).select_from(Suggestion)) or 0)


# ---------------------------------------------------------------- Coral Talk's requests


@pytest.mark.parametrize("attribute", ["TOXICITY", "SEVERE_TOXICITY"])
@pytest.mark.parametrize("language", ["en", "en-US"])
def test_coral_analyze_request(service: Any, attribute: str, language: str) -> None:
    # Coral's body, byte for byte in shape: {comment: {text}, doNotStore, requestedAttributes: {[model]: {}},
    # languages: [lang]}, the key in the query string
    body = {"comment": {"text": INSULT_TEXT}, "doNotStore": True, "requestedAttributes": {attribute: {}},
            "languages": [language]}
    resp = post(service, ANALYZE, body)
    assert resp.status_code == 200, resp.get_json()
    out = resp.get_json()
    assert set(out["attributeScores"]) == {attribute}
    score = out["attributeScores"][attribute]["summaryScore"]
    assert score["type"] == "PROBABILITY" and score["value"] > 0.5  # Coral reads .summaryScore.value
    assert out["languages"] == ["en"] and out["detectedLanguages"] == ["en"]
    clean = post(service, ANALYZE, {**body, "comment": {"text": CLEAN_TEXT}}).get_json()
    assert clean["attributeScores"][attribute]["summaryScore"]["value"] < score["value"]
    assert counts(service) == (0, 0)  # doNotStore: nothing stored


@pytest.mark.parametrize("rejected", [True, False])
def test_coral_suggestscore_request_is_stored_and_exported(service: Any, rejected: bool, tmp_path: Path) -> None:
    from moderator.training.feedback import export_rows, read_feedback

    context = json.dumps({"url": "https://news.example/story-1#comment-42", "storyID": "story-1",
                          "commentID": "c-42", "commentParentID": None})
    body = {"comment": {"text": INSULT_TEXT},
            "attributeScores": {"TOXICITY": {"summaryScore": {"value": 1 if rejected else 0}}},
            "languages": ["en"], "context": {"entries": [{"text": context}]},
            "communityId": "Coral:https://news.example", "clientToken": "comment:c-42"}
    resp = post(service, SUGGEST, body)
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json() == {"requestedLanguages": ["en"], "detectedLanguages": ["en"],
                               "clientToken": "comment:c-42"}
    with service.state.sessionmaker() as session:
        rows = list(export_rows(session))
    assert len(rows) == 1
    row = rows[0]
    assert row["source"] == "perspective" and row["label_source"] == "perspective"
    assert row["community_id"] == "Coral:https://news.example" and row["client_token"] == "comment:c-42"
    assert row["attributes"] == {"TOXICITY": 1.0 if rejected else 0.0}
    if rejected:  # "toxic" without saying how: positive where the model flags, no negative invented
        assert row["labels"]["personal_attack"] == 1 and 0 not in row["labels"].values()
    else:  # approved: clean for the content categories, nothing said about spam
        assert row["labels"] == {"hate_speech": 0, "obscenity": 0, "personal_attack": 0}
    path = tmp_path / "feedback.jsonl"
    path.write_text(json.dumps(row) + "\n")
    examples = read_feedback(path, part="all")
    assert [e.labels for e in examples] == [row["labels"]] and examples[0].corpus == "feedback"


def test_the_same_client_token_updates_instead_of_duplicating(service: Any) -> None:
    from moderator.training.feedback import export_rows

    body = {"comment": {"text": INSULT_TEXT}, "attributeScores": {"TOXICITY": {"summaryScore": {"value": 1}}},
            "communityId": "Coral:https://news.example", "clientToken": "comment:7"}
    assert post(service, SUGGEST, body).status_code == 200
    body["attributeScores"] = {"TOXICITY": {"summaryScore": {"value": 0}}}  # the moderator changed their mind
    assert post(service, SUGGEST, body).status_code == 200
    # another community's comment with the same token is another example
    assert post(service, SUGGEST, {**body, "communityId": "Coral:https://other.example"}).status_code == 200
    assert counts(service) == (0, 2)
    with service.state.sessionmaker() as session:
        rows = {r["community_id"]: r for r in export_rows(session)}
    assert rows["Coral:https://news.example"]["labels"]["personal_attack"] == 0
    assert rows["Coral:https://news.example"]["attributes"] == {"TOXICITY": 0.0}


def test_export_labels_command_includes_suggestions(service: Any, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from moderator.cli import main

    body = {"comment": {"text": "Buy cheap watches now at my shop, click the link!"},
            "attributeScores": {"SPAM": {"summaryScore": {"value": 1}}, "INSULT": {"summaryScore": {"value": 0}}},
            "clientToken": "t1"}
    assert post(service, SUGGEST, body).status_code == 200
    out = tmp_path / "labels.jsonl"
    r = CliRunner().invoke(main, ["export-labels", "--out", str(out), "--database-url", service.state.database_url])
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["source"], r["labels"], r["client_token"]) for r in rows] == [
        ("perspective", {"personal_attack": 0, "spam": 1}, "t1")]


def test_suggestion_labels_rules() -> None:
    from moderator.service.perspective import suggestion_labels

    assert suggestion_labels({"TOXICITY": 0}, ()) == {"hate_speech": 0, "obscenity": 0, "personal_attack": 0}
    assert suggestion_labels({"TOXICITY": 1}, ("obscenity", "spam")) == {"obscenity": 1}
    assert suggestion_labels({"TOXICITY": 1}, ()) == {}
    assert suggestion_labels({"SEVERE_TOXICITY": 0}, ("obscenity",)) == {"hate_speech": 0, "personal_attack": 0}
    assert suggestion_labels({"THREAT": 1}, ()) == {"personal_attack": 1}
    assert suggestion_labels({"THREAT": 0}, ()) == {}
    # a direct attribute wins over what TOXICITY implies
    assert suggestion_labels({"TOXICITY": 0, "PROFANITY": 1}, ()) == {"hate_speech": 0, "obscenity": 1,
                                                                       "personal_attack": 0}


# ---------------------------------------------------------------- the answer


def test_all_attributes_threshold_spans_and_client_token(service: Any) -> None:
    text = "You stupid idiot, I know where you live and I will hurt you."
    body = {"comment": {"text": text, "type": "PLAIN_TEXT"}, "requestedAttributes": {a: {} for a in ALL},
            "spanAnnotations": True, "clientToken": "abc", "sessionId": "s1", "communityId": "c"}
    out = post(service, ANALYZE, body).get_json()
    assert set(out["attributeScores"]) == set(ALL) and out["clientToken"] == "abc"
    for attr, entry in out["attributeScores"].items():
        assert 0.0 <= entry["summaryScore"]["value"] <= 1.0
        for span in entry["spanScores"]:
            assert 0 <= span["begin"] < span["end"] <= len(text), (attr, span)
            assert 0.0 <= span["score"]["value"] <= entry["summaryScore"]["value"] + 1e-9
    assert out["attributeScores"]["THREAT"]["summaryScore"]["value"] >= 0.6
    assert any(text[s["begin"]:s["end"]].startswith("i know where you live")
               or text[s["begin"]:s["end"]].lower().startswith("i know where you live")
               for s in out["attributeScores"]["THREAT"]["spanScores"])
    insult_spans = out["attributeScores"]["INSULT"]["spanScores"]
    assert any("idiot" in text[s["begin"]:s["end"]] for s in insult_spans)
    # without spanAnnotations: no spanScores, and nothing but the three keys
    plain = post(service, ANALYZE, {k: v for k, v in body.items() if k != "spanAnnotations"}).get_json()
    assert all("spanScores" not in e for e in plain["attributeScores"].values())
    # an attribute below its scoreThreshold is left out; the others stay
    body = {"comment": {"text": CLEAN_TEXT}, "requestedAttributes": {"TOXICITY": {"scoreThreshold": 0.9},
                                                                      "SPAM": {"scoreThreshold": 0}}}
    out = post(service, ANALYZE, body).get_json()
    assert set(out["attributeScores"]) == {"SPAM"} and "clientToken" not in out


def test_analyze_scores_match_v1_score(service: Any) -> None:
    from moderator.service.perspective import attribute_value

    text = "Those people are vermin and should go back where they came from, you moron."
    scores = service.call("POST", "/v1/score", "submit", json={"text": text}).get_json()["results"][0]["scores"]
    out = post(service, ANALYZE, {"comment": {"text": text}, "requestedAttributes": {a: {} for a in ALL}}).get_json()
    assert out["attributeScores"]["IDENTITY_ATTACK"]["summaryScore"]["value"] == round(scores["hate_speech"], 6)
    assert out["attributeScores"]["INSULT"]["summaryScore"]["value"] == round(scores["personal_attack"], 6)
    assert out["attributeScores"]["TOXICITY"]["summaryScore"]["value"] == round(
        attribute_value("TOXICITY", scores, text), 6)


def test_keys_from_header_and_bearer(service: Any) -> None:
    body = {"comment": {"text": CLEAN_TEXT}, "requestedAttributes": {"TOXICITY": {}}}
    assert post(service, ANALYZE, body, key=None, headers={"X-Goog-Api-Key": service.keys["review"]}).status_code \
        == 200
    assert post(service, ANALYZE, body, key=None,
                headers={"Authorization": f"Bearer {service.keys['admin']}"}).status_code == 200


# ---------------------------------------------------------------- every bad request: Google's shape


BAD_ANALYZE: list[tuple[str, Any, str | None]] = [
    ("unknown attribute", {"comment": {"text": "hi"}, "requestedAttributes": {"FLIRTATION": {}}},
     "ATTRIBUTE_NOT_SUPPORTED"),
    ("no attributes", {"comment": {"text": "hi"}, "requestedAttributes": {}}, "NO_REQUESTED_ATTRIBUTES"),
    ("attributes missing", {"comment": {"text": "hi"}}, "NO_REQUESTED_ATTRIBUTES"),
    ("no comment", {"requestedAttributes": {"TOXICITY": {}}}, "COMMENT_EMPTY"),
    ("no text", {"comment": {}, "requestedAttributes": {"TOXICITY": {}}}, "COMMENT_EMPTY"),
    ("empty text", {"comment": {"text": "   "}, "requestedAttributes": {"TOXICITY": {}}}, "COMMENT_EMPTY"),
    ("text not a string", {"comment": {"text": 5}, "requestedAttributes": {"TOXICITY": {}}}, None),
    ("comment not an object", {"comment": "hi", "requestedAttributes": {"TOXICITY": {}}}, None),
    ("html", {"comment": {"text": "<b>hi</b>", "type": "HTML"}, "requestedAttributes": {"TOXICITY": {}}}, None),
    ("unknown field", {"comment": {"text": "hi"}, "requestedAttributes": {"TOXICITY": {}}, "colour": 1}, None),
    ("threshold out of range", {"comment": {"text": "hi"}, "requestedAttributes": {"TOXICITY": {"scoreThreshold": 2}}},
     None),
    ("threshold not a number",
     {"comment": {"text": "hi"}, "requestedAttributes": {"TOXICITY": {"scoreThreshold": "high"}}}, None),
    ("score type", {"comment": {"text": "hi"}, "requestedAttributes": {"TOXICITY": {"scoreType": "STD_DEV_SCORE"}}},
     None),
    ("doNotStore not a bool", {"comment": {"text": "hi"}, "requestedAttributes": {"TOXICITY": {}}, "doNotStore": "y"},
     None),
    ("languages not a list", {"comment": {"text": "hi"}, "requestedAttributes": {"TOXICITY": {}}, "languages": "en"},
     None),
    ("requested language", {"comment": {"text": "Hola, ¿qué tal?"}, "requestedAttributes": {"TOXICITY": {}},
                            "languages": ["es"]}, "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE"),
    ("detected language", {"comment": {"text": "Eres un idiota y no tienes ni idea de lo que hablas."},
                           "requestedAttributes": {"INSULT": {}}}, "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE"),
    ("client token too long", {"comment": {"text": "hi"}, "requestedAttributes": {"TOXICITY": {}},
                               "clientToken": "x" * 201}, None),
]


@pytest.mark.parametrize(("case", "body", "error_type"), BAD_ANALYZE, ids=[c[0] for c in BAD_ANALYZE])
def test_bad_analyze_requests_get_googles_400(service: Any, case: str, body: Any, error_type: str | None) -> None:
    err = assert_google_error(post(service, ANALYZE, body), 400, error_type)
    if error_type == "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE":
        detail = next(d for d in err["details"] if d.get("errorType") == error_type)
        assert detail["languageNotSupportedByAttributeError"]["attribute"] in ("TOXICITY", "INSULT")
        assert "es" in err["message"]


BAD_SUGGEST: list[tuple[str, Any]] = [
    ("no scores", {"comment": {"text": "hi"}}),
    ("empty scores", {"comment": {"text": "hi"}, "attributeScores": {}}),
    ("unknown attribute", {"comment": {"text": "hi"},
                           "attributeScores": {"LIKABILITY": {"summaryScore": {"value": 1}}}}),
    ("no value", {"comment": {"text": "hi"}, "attributeScores": {"TOXICITY": {"summaryScore": {}}}}),
    ("no summary", {"comment": {"text": "hi"}, "attributeScores": {"TOXICITY": {}}}),
    ("value out of range", {"comment": {"text": "hi"},
                            "attributeScores": {"TOXICITY": {"summaryScore": {"value": 3}}}}),
    ("value a string", {"comment": {"text": "hi"}, "attributeScores": {"TOXICITY": {"summaryScore": {"value": "1"}}}}),
    ("no text", {"comment": {}, "attributeScores": {"TOXICITY": {"summaryScore": {"value": 1}}}}),
    ("bad context", {"comment": {"text": "hi"}, "attributeScores": {"TOXICITY": {"summaryScore": {"value": 1}}},
                     "context": {"entries": "nope"}}),
]


@pytest.mark.parametrize(("case", "body"), BAD_SUGGEST, ids=[c[0] for c in BAD_SUGGEST])
def test_bad_suggestions_get_googles_400_and_store_nothing(service: Any, case: str, body: Any) -> None:
    assert_google_error(post(service, SUGGEST, body), 400)
    assert counts(service) == (0, 0)


@pytest.mark.parametrize("path", [ANALYZE, SUGGEST])
def test_malformed_bodies_keys_methods_and_sizes(service: Any, path: str) -> None:
    for raw in (b"{", b"[]", b"null", b"\xff\xfe", b'{"comment": NaN}', b"", b"[" * 100_000):
        assert_google_error(post(service, path, None, raw=raw), 400)
    assert_google_error(post(service, path, None, raw=b"{}", content_type="text/plain"), 400)
    body = {"comment": {"text": "hi"}, "requestedAttributes": {"TOXICITY": {}}}
    err = assert_google_error(post(service, path, body, key=None), 403)
    assert err["details"][0]["reason"] == "API_KEY_MISSING"
    resp = service.client.post(f"{path}?key=mod_deadbeef_nope", json=body)
    assert assert_google_error(resp, 400)["details"][0]["reason"] == "API_KEY_INVALID"
    assert_google_error(service.client.post(path, json=body, headers={"X-Goog-Api-Key": "wrong"}), 400)
    assert_google_error(service.client.get(f"{path}?key={service.keys['submit']}"), 405)
    too_long = {"comment": {"text": "word " * 5000}, "requestedAttributes": {"TOXICITY": {}},
                "attributeScores": {"TOXICITY": {"summaryScore": {"value": 1}}}}
    assert_google_error(post(service, path, too_long), 400)
    huge = b'{"comment": {"text": "' + b"a" * 2_000_000 + b'"}}'
    assert_google_error(post(service, path, None, raw=huge), 400)  # over MAX_CONTENT_LENGTH (413 upstream)
    assert counts(service) == (0, 0)


def test_unknown_paths_under_v1alpha1_and_discovery_versions(service: Any) -> None:
    assert_google_error(service.client.post("/v1alpha1/comments:nothing", json={}), 404)
    assert_google_error(service.client.get("/$discovery/rest?version=v2"), 404)


# ---------------------------------------------------------------- storing, or not


def test_optional_submission_into_the_review_queue(make_service_fixture: Any) -> None:
    from moderator.storage.models import Comment

    svc = make_service_fixture(PERSPECTIVE_SUBMIT=True)
    body = {"comment": {"text": INSULT_TEXT}, "requestedAttributes": {"INSULT": {}},
            "communityId": "Coral:https://news.example", "clientToken": "comment:99"}
    assert post(svc, ANALYZE, {**body, "doNotStore": True}).status_code == 200
    assert counts(svc) == (0, 0)  # doNotStore wins over the setting
    out = post(svc, ANALYZE, body)
    assert out.status_code == 200
    with svc.state.sessionmaker() as session:
        comment = session.scalars(select(Comment)).one()
    assert (comment.thread_id, comment.external_id, comment.text) == ("Coral:https://news.example", "comment:99",
                                                                      INSULT_TEXT)
    assert "flagged:personal_attack" in comment.reasons and comment.status == "held"
    queue = svc.call("GET", "/v1/queue", "review").get_json()["items"]
    assert [i["id"] for i in queue] == [comment.id]


def test_analyze_stores_nothing_by_default_and_logs_no_text(service: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    body = {"comment": {"text": "A very distinctive sentence about zebras 4711."},
            "requestedAttributes": {"TOXICITY": {}}, "doNotStore": False}
    assert post(service, ANALYZE, body).status_code == 200
    assert counts(service) == (0, 0)
    assert "zebras" not in caplog.text
    metrics = service.client.get("/metrics").get_data(as_text=True)
    assert "zebras" not in metrics and "comments:analyze" in metrics


# ---------------------------------------------------------------- discovery, proxies, keys in logs


def test_discovery_document_honours_trusted_proxies(make_service_fixture: Any) -> None:
    svc = make_service_fixture(TRUSTED_PROXIES=1)
    doc = svc.client.get("/$discovery/rest?version=v1alpha1", headers={
        "X-Forwarded-Proto": "https", "X-Forwarded-Host": "comments.news.example"}).get_json()
    assert doc["rootUrl"] == "https://comments.news.example/"
    assert doc["name"] == "commentanalyzer" and doc["version"] == "v1alpha1"
    methods = doc["resources"]["comments"]["methods"]
    assert methods["analyze"]["path"] == "v1alpha1/comments:analyze"
    assert methods["suggestscore"]["httpMethod"] == "POST"
    plain = make_service_fixture()  # no trusted proxy: the forwarded headers are ignored
    doc = plain.client.get("/$discovery/rest?version=v1alpha1",
                           headers={"X-Forwarded-Host": "evil.example"}).get_json()
    assert doc["rootUrl"] == "http://localhost/"


def test_redact_query() -> None:
    from moderator.service.perspective import redact_query

    assert redact_query("key=mod_abc_secret&alt=json") == "key=REDACTED&alt=json"
    assert "secret" not in redact_query("alt=json&KEY=secret")
    assert redact_query("alt=json") == "alt=json"


@pytest.mark.slow
def test_googles_python_client_against_a_live_server(tmp_path: Path, model: Any) -> None:
    discovery = pytest.importorskip("googleapiclient.discovery")
    from serving import MODERATOR, moderator_serve, service_env

    env = service_env(tmp_path / "home")
    log_path = tmp_path / "serve.log"
    with moderator_serve(env, log_path, workers=1, ready_timeout=180) as base:
        out = subprocess.run([*MODERATOR, "keys", "create", "--role", "submit", "--name", "perspective client"],
                             env=env, capture_output=True, text=True, check=True).stdout
        key = out.strip().splitlines()[-1]
        # exactly as Perspective's documentation shows, with the discovery URL pointing here
        client = discovery.build("commentanalyzer", "v1alpha1", developerKey=key,
                                 discoveryServiceUrl=f"{base}/$discovery/rest?version=v1alpha1",
                                 static_discovery=False, cache_discovery=False)
        answer = client.comments().analyze(body={
            "comment": {"text": INSULT_TEXT}, "requestedAttributes": {"TOXICITY": {}, "INSULT": {}},
            "clientToken": "google-client"}).execute()
        assert answer["attributeScores"]["INSULT"]["summaryScore"]["value"] > 0.5
        assert answer["clientToken"] == "google-client"
        reply = client.comments().suggestscore(body={
            "comment": {"text": INSULT_TEXT}, "attributeScores": {"TOXICITY": {"summaryScore": {"value": 1}}},
            "clientToken": "comment:1", "communityId": "site"}).execute()
        assert reply["clientToken"] == "comment:1"
        from googleapiclient.errors import HttpError

        with pytest.raises(HttpError) as caught:
            client.comments().analyze(body={"comment": {"text": "hi"},
                                            "requestedAttributes": {"NOPE": {}}}).execute()
        assert caught.value.resp.status == 400
        assert json.loads(caught.value.content)["error"]["status"] == "INVALID_ARGUMENT"
        rows = subprocess.run([*MODERATOR, "export-labels", "--out", "-"], env=env, capture_output=True, text=True,
                              check=True).stdout.splitlines()
        assert [json.loads(r)["client_token"] for r in rows] == ["comment:1"]
        client.close()  # its kept-alive connection to the server
    assert key not in log_path.read_text()  # keys are never logged, the query string included


def test_threat_cues_and_traps() -> None:
    from moderator.service.perspective import threat, threat_spans

    calm = {"personal_attack": 0.1, "hate_speech": 0.05}
    for text in ("I know where you live and I will come for you.", "I will break your legs if you show up.",
                 "You're going to regret this, you'll pay for it."):
        assert threat_spans(text) and threat(calm, text) >= 0.6, text
    for text in ("This phone has a killer camera.", "I'd kill for a coffee right now.",
                 "The striker shot wide in the last minute."):
        assert not threat_spans(text) and threat(calm, text) < 0.5, text
    assert threat({**calm, "threat": 0.9}, "no cue here") == 0.9  # a model's own threat category is used
