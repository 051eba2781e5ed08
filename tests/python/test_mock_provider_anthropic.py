"""The official anthropic SDK against mock-provider: messages, streaming, tool use."""

from __future__ import annotations

import anthropic
import httpx
import pytest

from helpers import REPLY, TOOL_REPLY, compact, tokens, words

KEY = "sk-ant-test"

TOOLS = [
    {
        "name": "get_weather",
        "description": "Weather for a city",
        "input_schema": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "metric": {"type": "boolean"}},
            "required": ["city"],
        },
    }
]


@pytest.fixture
def client(mock):
    return anthropic.Anthropic(api_key=KEY, base_url=mock.url, max_retries=0)


def test_message(client, mock):
    message = client.messages.create(
        model="claude-mock",
        max_tokens=256,
        system="Be brief.",
        messages=[{"role": "user", "content": "Name a prime number"}],
    )
    text = REPLY + "Name a prime number"
    assert message.content[0].type == "text"
    assert message.content[0].text == text
    assert message.stop_reason == "end_turn"
    assert message.role == "assistant" and message.model == "claude-mock"
    assert message.usage.input_tokens == tokens("Be brief." + "Name a prime number")
    assert message.usage.output_tokens == tokens(text)
    entry = mock.key_stats(KEY)
    assert entry["apis"] == {"anthropic": 1} and entry["statuses"] == {"200": 1}
    assert entry["prompt_tokens"] == message.usage.input_tokens


def test_max_tokens_stop_reason(client):
    message = client.messages.create(
        model="c", max_tokens=2, messages=[{"role": "user", "content": "something long enough"}]
    )
    assert message.stop_reason == "max_tokens"
    assert message.content[0].text == REPLY[:8]
    assert message.usage.output_tokens == 2


def test_stream_helpers_and_final_message(client):
    question = "Describe the sea in five words"
    with client.messages.stream(
        model="claude-mock", max_tokens=256, messages=[{"role": "user", "content": question}]
    ) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    text = REPLY + question
    assert pieces == words(text)
    assert final.content[0].text == text
    assert final.stop_reason == "end_turn"
    assert final.usage.input_tokens == tokens(question)
    assert final.usage.output_tokens == tokens(text)


def test_raw_event_sequence(client):
    stream = client.messages.create(
        model="c", max_tokens=100, stream=True, messages=[{"role": "user", "content": "hi"}]
    )
    types = [event.type for event in stream]
    assert types == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]  # the SDK consumes "ping" itself


def test_raw_wire_events_include_ping(mock):
    response = httpx.post(
        f"{mock.url}/v1/messages",
        headers={"x-api-key": KEY, "anthropic-version": "2023-06-01"},
        json={"model": "c", "max_tokens": 10, "stream": True, "messages": [{"role": "user", "content": "x"}]},
    )
    names = [line[len("event: "):] for line in response.text.splitlines() if line.startswith("event: ")]
    assert names[:2] == ["message_start", "ping"]
    assert names[-2:] == ["message_delta", "message_stop"]


def test_tool_use_then_tool_result(client, mock):
    messages = [{"role": "user", "content": "Use the tool for Rome"}]
    first = client.messages.create(model="c", max_tokens=512, tools=TOOLS, messages=messages)
    assert first.stop_reason == "tool_use"
    (block,) = first.content
    assert block.type == "tool_use"
    assert block.id == "toolu_mock_get_weather" and block.name == "get_weather"
    assert block.input == {"city": "mock-city", "metric": True}
    assert first.usage.output_tokens == tokens(compact(block.input))

    messages += [
        {"role": "assistant", "content": [block.model_dump()]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": block.id, "content": "cloudy"}]},
    ]
    second = client.messages.create(model="c", max_tokens=512, tools=TOOLS, messages=messages)
    assert second.content[0].text == TOOL_REPLY + "cloudy"
    assert mock.key_stats(KEY)["requests"] == 2


def test_streamed_tool_use(client):
    with client.messages.stream(
        model="c", max_tokens=512, tools=TOOLS, tool_choice={"type": "any"},
        messages=[{"role": "user", "content": "weather?"}],
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert final.content[0].input == {"city": "mock-city", "metric": True}


def test_count_tokens(client):
    count = client.messages.count_tokens(model="c", messages=[{"role": "user", "content": "12345678"}])
    assert count.input_tokens == 2


def test_overloaded_529(client):
    with pytest.raises(anthropic.APIStatusError) as error:
        client.messages.create(
            model="c", max_tokens=10, messages=[{"role": "user", "content": "x"}],
            extra_headers={"x-mock-status": "529"},
        )
    assert error.value.status_code == 529
    assert error.value.body == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Injected fault: status 529 (mock-provider)."},
    }
    assert error.value.response.headers["retry-after"] == "1"


def test_version_header_required(mock):
    response = httpx.post(
        f"{mock.url}/v1/messages",
        headers={"x-api-key": KEY},
        json={"model": "c", "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]},
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize("messages, message", [
    ([{"role": "user", "content": ""}],
     "messages.0: all messages must have non-empty content except for the optional final assistant message"),
    ([{"role": "user", "content": [{"type": "text", "text": ""}]}], "messages: text content blocks must be non-empty"),
    ([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Well "}],
     "final assistant content cannot end with trailing whitespace"),
    ([{"role": "user", "content": "Hi"},
      {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}]},
      {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "a"}]},
      {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}]},
      {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "b"}]}],
     "messages.3.content.0: `tool_use` ids must be unique"),
])
def test_content_the_real_api_refuses(client, messages, message):
    with pytest.raises(anthropic.BadRequestError) as raised:
        client.messages.create(model="claude-3-5-haiku-latest", max_tokens=50, messages=messages)
    assert raised.value.body["error"] == {"type": "invalid_request_error", "message": message}
