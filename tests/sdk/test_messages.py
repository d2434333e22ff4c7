"""Typed messages round-trip through protobuf without losing anything."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from google.protobuf import json_format

from agentmesh.messages import (
    DataPart,
    Message,
    MessageType,
    RawPart,
    Role,
    TextPart,
    TokenUsage,
    UrlPart,
    dict_to_struct,
    python_to_value,
    struct_to_dict,
    value_to_python,
)


def test_every_part_kind_survives_the_protobuf_edge() -> None:
    original = Message(
        parts=(
            TextPart("# Title", "text/markdown"),
            DataPart({"n": 3, "ratio": 0.5, "items": [1, {"deep": True}], "none": None}),
            RawPart(b"\x89PNG", "image/png", "chart.png"),
            UrlPart("https://example.org/report.pdf", "application/pdf"),
        ),
        sender="writer",
        receiver="critic",
        role=Role.AGENT,
        type=MessageType.RESPONSE,
        context_id="conversation-1",
        correlation_id="request-7",
        metadata={"llm_provider": "offline"},
        create_time=datetime(2026, 3, 2, 10, 0, 0, 123000, tzinfo=UTC),
    )
    assert Message.from_proto(original.to_proto()) == original


def test_whole_numbers_come_back_as_int_despite_struct_storing_doubles() -> None:
    data = Message.from_proto(Message.request({"max_subtopics": 2, "score": 0.75}).to_proto()).data
    assert data == {"max_subtopics": 2, "score": 0.75}
    assert isinstance(data["max_subtopics"], int)


def test_text_and_data_views_join_and_merge_parts_in_order() -> None:
    message = Message(parts=(TextPart("a"), DataPart({"x": 1, "y": 1}), TextPart("b"), DataPart({"y": 2})))
    assert message.text == "a\n\nb"
    assert message.data == {"x": 1, "y": 2}


def test_token_usage_adds_up_and_reports_its_total() -> None:
    total = TokenUsage(3, 4) + TokenUsage(10, 1)
    assert (total.input_tokens, total.output_tokens, total.total_tokens) == (13, 5, 18)
    assert total.to_proto().total_tokens == 18
    assert TokenUsage.from_proto(total.to_proto()) == total


def test_json_shaped_values_convert_like_protojson_and_reject_anything_else() -> None:
    data = {
        "s": "x",
        "i": 2,
        "f": 2.5,
        "big": 2.0**60,
        "t": True,
        "n": None,
        "l": [1, [], {}],
        "d": {"e": []},
    }
    value = python_to_value(data)
    assert value_to_python(value) == data
    assert json_format.MessageToDict(value) == {**data, "i": 2.0, "l": [1.0, [], {}]}
    assert struct_to_dict(dict_to_struct(data)) == data
    assert value_to_python(python_to_value([])) == []  # an empty list is still a list, not null
    for bad in ({1: "key not a string"}, {"set": {1, 2}}, b"bytes"):
        with pytest.raises(TypeError):
            python_to_value(bad)
