"""Fuzz the REST API with malformed and hostile bodies from a seeded generator: no 5xx, ever, and
the server keeps answering good requests. Bounded in count and time."""

from __future__ import annotations

import base64
import json
import random
import time
from typing import Any

import httpx
from _serving_models import make_example, raw_instance

from penstock.serving.server import ModelServer

SEED = 20240611
BODIES = 700
TIME_LIMIT_SECONDS = 60
SIGNATURES = ["serving_default", "predict_raw", "classify", "regress", "", "nope", 7, None, ["x"]]
PATHS = ["/v1/models/taxi:predict", "/v1/models/taxi:classify", "/v1/models/taxi:regress",
         "/v1/models/taxi/versions/2:predict", "/v1/models/taxi/labels/x:regress"]


def random_scalar(rng: random.Random) -> Any:
    return rng.choice([
        None, True, False, 0, -1, 2**70, -(2**63), 1e308, -1e-308, 0.5, "", "Cash", "\u00e9\u4e2d\U0001f600",
        "\x00", "1.5", {"b64": "aGk="}, {"b64": "!!"}, {"b64": 5}, {"b64": "aGk=", "x": 1}, [], {},
    ])


def random_value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 4 or roll < 0.45:
        return random_scalar(rng)
    if roll < 0.8:
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    keys = list(raw_instance()) + ["examples", "inputs", "b64", "x" * rng.randint(1, 3)]
    return {rng.choice(keys): random_value(rng, depth + 1) for _ in range(rng.randint(0, 5))}


def valid_body(rng: random.Random) -> dict[str, Any]:
    example = {"b64": base64.b64encode(make_example()).decode()}
    features = {"trip_miles": 1.0, "fare": 3.0, "payment_type": "Cash"}
    return rng.choice([
        {"instances": [example]},
        {"inputs": {"examples": [example, example]}},
        {"signature_name": "predict_raw", "instances": [raw_instance(i) for i in range(2)]},
        {"signature_name": "classify", "examples": [features]},
        {"signature_name": "regress", "context": {"company": "Sun Taxi"}, "examples": [features]},
    ])


def mutate(rng: random.Random, body: dict[str, Any]) -> bytes:
    kind = rng.randrange(6)
    if kind == 0:  # replace a value deep inside with something random
        target: Any = body
        for _ in range(rng.randint(1, 4)):
            if isinstance(target, dict) and target:
                key = rng.choice(list(target))
                if rng.random() < 0.5 or not isinstance(target[key], (dict, list)):
                    target[key] = random_value(rng)
                    break
                target = target[key]
            elif isinstance(target, list) and target:
                index = rng.randrange(len(target))
                if rng.random() < 0.5 or not isinstance(target[index], (dict, list)):
                    target[index] = random_value(rng)
                    break
                target = target[index]
        body["signature_name"] = rng.choice(SIGNATURES) if rng.random() < 0.3 else body.get("signature_name", "")
        return json.dumps(body).encode()
    raw = json.dumps(body).encode()
    if kind == 1:  # truncated
        return raw[: rng.randrange(len(raw))]
    if kind == 2:  # flipped bytes
        data = bytearray(raw)
        for _ in range(rng.randint(1, 5)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)
    if kind == 3:  # a random JSON document
        return json.dumps(random_value(rng)).encode()
    if kind == 4:  # deep nesting
        depth = rng.choice([50, 500, 1100, 5000])
        return ('{"instances": ' + "[" * depth + "1" + "]" * depth + "}").encode()
    return rng.choice([b"", b"null", b"[]", b'"text"', b"NaN", b'{"instances": [NaN]}', b"\xff\xfe",
                       b'{"instances": [1e999]}', b'{"instances": [[1, [2]]]}'])


def test_fuzzed_bodies_never_get_a_5xx(taxi_server: ModelServer) -> None:
    rng = random.Random(SEED)
    statuses: dict[int, int] = {}
    server_errors: list[tuple[str, bytes, str]] = []
    deadline = time.monotonic() + TIME_LIMIT_SECONDS
    with httpx.Client(base_url=f"http://127.0.0.1:{taxi_server.rest_port}", timeout=10) as client:
        for _ in range(BODIES):
            if time.monotonic() > deadline:
                break
            path = rng.choice(PATHS)
            body = mutate(rng, valid_body(rng))
            r = client.post(path, content=body, headers={"content-type": "application/json"})
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
            if r.status_code >= 500:
                server_errors.append((path, body[:300], r.text[:300]))
            elif r.status_code != 200:
                assert set(r.json()) == {"error"} and r.json()["error"]
        good = client.post("/v1/models/taxi:predict", json={"instances": [
            {"b64": base64.b64encode(make_example()).decode()}]})
    assert server_errors == []
    assert good.status_code == 200
    assert sum(statuses.values()) >= 200 and statuses.get(400, 0) > 100, statuses
