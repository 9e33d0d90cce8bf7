"""What a Recif agent accepts: images are OCI references, configs fit a ConfigMap, replicas are
whole numbers from 1 to 10; everything else is a refusal that changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentfsm import Actor, Context, Event, InvalidInput, Refusal, Snapshot, Step, decide
from agentfsm.models import (
    MAX_CONFIG_BYTES,
    MAX_CONFIG_ENTRIES,
    MAX_IMAGE_LENGTH,
    RECIF,
    RecifAgent,
    RecifSpec,
    config_problem,
    image_problem,
)

U, S = Actor.USER, Actor.SYSTEM
T0 = datetime(2026, 4, 3, 10, 0, tzinfo=UTC)
CTX = Context(now=T0)
SHA256 = "sha256:" + "a" * 64
ATTACK = "x:1\n\nAgent: victim\nRelease: 1\nIdempotency-Key: v-2\n---"


def running() -> Snapshot:
    return Snapshot("Running", 3, T0, RecifAgent("support-agent", ready_replicas=1))


@pytest.mark.parametrize(
    "image",
    [
        "nginx",
        "nginx:1.25",
        "library/nginx",
        "docker.io/library/nginx:1.25-alpine",
        "ghcr.io/recif/corail:latest",
        "localhost/app",
        "localhost:5000/team/app:v2",
        "registry.example.com:443/a/b/c:tag_1.0",
        "Registry.Example.COM/app",
        "[::1]:5000/app:1",
        "[2001:db8::1]/app",
        "10.0.0.1:5000/app",
        "a__b/c.d/e-f---g:T",
        f"ghcr.io/recif/corail@{SHA256}",
        f"ghcr.io/recif/corail:1.4@{SHA256}",
        "app@sha512:" + "0" * 128,
        "app@blake3:" + "Z" * 32,
        "a" * 255,
        "app:" + "t" * 128,
    ],
)
def test_an_oci_reference_is_an_image(image: str) -> None:
    assert image_problem(image) is None
    assert RecifSpec(image=image).image == image


@pytest.mark.parametrize(
    ("image", "why"),
    [
        ("", "empty"),
        (" ", "printable ASCII"),
        ("nginx latest", "printable ASCII"),
        ("nginx\n", "printable ASCII"),
        ("nginx\t1", "printable ASCII"),
        ("ngin\x00x", "printable ASCII"),
        ("corail\u2028", "printable ASCII"),
        ("corail\udcff", "printable ASCII"),
        ("caf\u00e9", "printable ASCII"),
        (ATTACK, "printable ASCII"),
        ("Nginx", "path component"),
        ("a//b", "path component"),
        ("a/", "path component"),
        ("/a", "path component"),
        ("a-/b", "path component"),
        ("a/_b", "path component"),
        ("a...b", "path component"),
        (":tag", "no repository name"),
        ("app:", "tag"),
        ("app:-x", "tag"),
        ("app:.x", "tag"),
        ("app:" + "t" * 129, "tag"),
        ("app@", "digest"),
        ("app@sha256", "digest"),
        ("app@sha256:abc", "64 lowercase hex"),
        ("app@sha256:" + "A" * 64, "64 lowercase hex"),
        ("app@md5:short", "32 to"),
        ("app@" + SHA256 + "@" + SHA256, "64 lowercase hex"),
        ("host_x.io/app", "registry host"),
        ("-host.io/app", "registry host"),
        ("host..io/app", "registry host"),
        ("host.io:99999/app", "port"),
        ("host.io:0/app", "port"),
        ("host.io:x/app", "port"),
        ("[::1/app", "IPv6"),
        ("[zz::1]/app", "IPv6"),
        ("[::1]x/app", "IPv6"),
        ("a" * 256, "at most 255"),
        ("a" * (MAX_IMAGE_LENGTH + 1), f"at most {MAX_IMAGE_LENGTH}"),
    ],
)
def test_anything_else_is_not_an_image_and_the_sentence_says_why(image: str, why: str) -> None:
    problem = image_problem(image)
    assert problem is not None
    assert why in problem
    with pytest.raises(InvalidInput, match="image"):
        RecifSpec(image=image)


@pytest.mark.parametrize("value", [None, 3, b"nginx", ["nginx"], True])
def test_an_image_is_a_string(value: object) -> None:
    assert "must be a string" in (image_problem(value) or "")


_component = st.from_regex(r"\A[a-z0-9]{1,5}(?:(?:[._]|__|-{1,3})[a-z0-9]{1,5}){0,2}\Z")
_host = st.from_regex(r"\A[a-z0-9]{1,8}(?:\.[a-z0-9]{1,8}){1,2}\Z")
_tag = st.from_regex(r"\A[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}\Z")
_digest = st.from_regex(r"\A[a-f0-9]{64}\Z").map(lambda hex_: f"sha256:{hex_}")


@st.composite
def _references(draw: st.DrawFn) -> str:
    components = draw(st.lists(_component, min_size=1, max_size=3))
    host = draw(st.none() | _host)
    if host is None and len(components) > 1:
        # A first part with a "." is read as a registry host, as docker pull reads it.
        components[0] = components[0].replace(".", "_")
    path = "/".join(components)
    port = draw(st.none() | st.integers(1, 65535))
    name = path if host is None else f"{host}{'' if port is None else f':{port}'}/{path}"
    tag = draw(st.none() | _tag)
    digest = draw(st.none() | _digest)
    return name + ("" if tag is None else f":{tag}") + ("" if digest is None else f"@{digest}")


@settings(max_examples=150, deadline=None)
@given(_references())
def test_every_reference_the_grammar_makes_is_an_image(image: str) -> None:
    assert image_problem(image) is None


@settings(max_examples=150, deadline=None)
@given(_references(), st.integers(0, 40), st.characters(codec=None, exclude_categories=()))
def test_a_reference_with_a_character_outside_printable_ascii_is_refused(
    image: str, where: int, ch: str
) -> None:
    if "!" <= ch <= "~":
        return
    bad = image[:where] + ch + image[where:]
    assert image_problem(bad) is not None


@settings(max_examples=200, deadline=None)
@given(st.text(st.characters(codec=None, exclude_categories=()), max_size=80))
def test_any_text_gets_an_answer_never_an_exception(text: str) -> None:
    problem = image_problem(text)
    assert problem is None or problem.strip()


# -- config -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "why"),
    [
        (None, "mapping"),
        ("str", "mapping"),
        ([("a", "b")], "mapping"),
        ({1: "x"}, "keys must be strings"),
        ({"": "x"}, "config key"),
        ({"a b": "x"}, "config key"),
        ({"a/b": "x"}, "config key"),
        ({".": "x"}, "config key"),
        ({"..": "x"}, "config key"),
        ({"..x": "x"}, "config key"),
        ({"a\n": "x"}, "config key"),
        ({"k" * 254: "x"}, "config key"),
        ({"tools": 3}, "values must be strings"),
        ({"tools": None}, "values must be strings"),
        ({"tools": "\udcff"}, "lone surrogate"),
        ({f"k{i}": "" for i in range(MAX_CONFIG_ENTRIES + 1)}, "at most"),
        ({"big": "x" * MAX_CONFIG_BYTES}, "1 MiB"),
    ],
)
def test_a_config_a_configmap_cannot_hold_is_refused(config: object, why: str) -> None:
    problem = config_problem(config)
    assert problem is not None
    assert why in problem
    with pytest.raises(InvalidInput):
        RecifSpec(config=config)  # type: ignore[arg-type]


def test_a_configmap_config_is_accepted() -> None:
    config = {"MODEL": "gpt-4o", "log.level": "debug", "a-b_c": "multi\nline", "empty": ""}
    assert config_problem(config) is None
    assert dict(RecifSpec(config=config).config) == dict(sorted(config.items()))
    assert config_problem({f"k{i}": "v" for i in range(MAX_CONFIG_ENTRIES)}) is None


# -- the machine --------------------------------------------------------------------------------


def test_regression_recif_accepts_any_non_blank_image() -> None:
    # The image that forged release trailers: a model that takes it hands it to every store.
    before = running()
    for event in (
        Event("update_config", U, {"image": ATTACK}),
        Event("start_canary", U, {"image": ATTACK}),
        Event("update_config", U, {"image": "corail latest"}),
        Event("start_canary", U, {"image": "Corail"}),
    ):
        result = decide(RECIF, before, event, CTX)
        assert isinstance(result, Refusal), event
        assert result.code == "invalid_spec"
        assert "OCI reference" in result.message
    assert before == running()
    with pytest.raises(InvalidInput, match="printable ASCII"):
        RecifSpec(image=ATTACK)


@pytest.mark.parametrize(
    "payload",
    [
        {"config": {"a b": "x"}},
        {"config": {"tools": "\udcff"}},
        {"config": {f"k{i}": "" for i in range(MAX_CONFIG_ENTRIES + 1)}},
        {"config": {"ok": "1"}, "image": "bad image"},
        {"image": "ghcr.io/x/y:1", "config": {"k": 1}},
    ],
)
def test_a_bad_config_change_is_refused_and_changes_nothing(payload: dict[str, Any]) -> None:
    before = running()
    result = decide(RECIF, before, Event("update_config", U, payload), CTX)
    assert isinstance(result, Refusal)
    assert result.code == "invalid_spec"
    assert before == running()


def test_a_good_config_change_is_taken() -> None:
    payload = {"image": f"ghcr.io/recif/corail:1.5@{SHA256}", "config": {"MODEL": "x"}}
    result = decide(RECIF, running(), Event("update_config", U, payload), CTX)
    assert isinstance(result, Step)
    assert result.snapshot.data.spec.image == payload["image"]
    assert dict(result.snapshot.data.spec.config) == {"MODEL": "x"}


@pytest.mark.parametrize(
    ("replicas", "code"),
    [
        ("3", "invalid_payload"),
        (True, "invalid_payload"),
        (False, "invalid_payload"),
        (3.0, "invalid_payload"),
        (None, "invalid_payload"),
        (0, "replicas_out_of_range"),
        (11, "replicas_out_of_range"),
        (-(10**50), "replicas_out_of_range"),
    ],
)
def test_replicas_are_a_whole_number_from_1_to_10(replicas: object, code: str) -> None:
    before = running()
    result = decide(RECIF, before, Event("scale", U, {"replicas": replicas}), CTX)
    assert isinstance(result, Refusal)
    assert result.code == code
    assert before == running()
    with pytest.raises(InvalidInput, match="replicas"):
        RecifSpec(replicas=replicas)  # type: ignore[arg-type]


_hostile = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(st.characters(codec=None, exclude_categories=()), max_size=30)
    | st.binary(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=5) | st.integers(), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["update_config", "start_canary", "scale"]),
    st.dictionaries(st.sampled_from(["image", "config", "replicas"]), _hostile, max_size=3),
)
def test_hostile_spec_payloads_get_an_answer_and_a_refusal_changes_nothing(
    name: str, payload: dict[str, object]
) -> None:
    before = running()
    result = decide(RECIF, before, Event(name, U, payload), CTX)
    assert isinstance(result, (Step, Refusal))
    assert before == running()
    if isinstance(result, Step):  # whatever was taken is a spec the model accepts
        spec = result.snapshot.data.spec
        assert image_problem(spec.image) is None
        assert config_problem(spec.config) is None
        assert (
            result.snapshot.data.canary is None
            or image_problem(result.snapshot.data.canary) is None
        )


def test_a_first_part_that_looks_like_a_host_is_read_as_one() -> None:
    # docker pull reads "a.b/c" as registry a.b; "a_b.c/d" is then no host at all.
    assert image_problem("a.b/c") is None
    assert "registry host" in (image_problem("a_b.c/d") or "")
    assert image_problem("a_b.c") is None  # one part only: a repository name
