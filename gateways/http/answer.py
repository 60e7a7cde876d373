"""The answer of a hot read endpoint: its response model dumped to JSON once, by pydantic.

An endpoint that returns a dict or a model has FastAPI validate it against the response model again
and, for a plain `def` endpoint, do so on the thread pool: one more hop per request on top of the
endpoint's own. The read paths drivers hit most (nearby, one lot, guidance, forecasts) build their
model themselves and return it through `json_answer`; the response model still documents the shape.
The hottest (nearby: twenty car parks an answer) skips the models too: `json_data` writes plain values
with orjson, byte for byte what pydantic writes for them (tests/gateways/test_answer.py holds it to that).
"""
from __future__ import annotations

import orjson
from fastapi import Response
from pydantic import BaseModel


def json_answer(model: BaseModel) -> Response:
    """`model` as the JSON body FastAPI would have sent for it, without validating it a second time."""
    return Response(model.model_dump_json(), media_type="application/json")


def json_data(data: dict) -> Response:
    """`data` (plain values, keys in the response model's field order) as JSON: orjson writes a UTC time with `Z`
    and a float or a string exactly as pydantic does, so the body is the model's without building one."""
    return Response(orjson.dumps(data, option=orjson.OPT_UTC_Z), media_type="application/json")
