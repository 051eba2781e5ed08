"""The gateway as the official openai SDK sees it: chat, streaming, tools, models.

The upstream is a mock-provider that accepts only the gateway's three provider keys; its answers
and token counts follow docs/mock-provider.md, so every value below is predicted exactly.
"""

from __future__ import annotations

import json

import openai
import pytest

from gateway_fixtures import ACCESS_KEY, HTTP, KEY_IDS, PROVIDER_KEYS, SECOND_ACCESS_KEY
from helpers import REPLY, TOOL_REPLY, compact, tokens, words

QUESTION = "What is the capital of France?"
MESSAGES = [{"role": "user", "content": QUESTION}]
ANSWER = REPLY + QUESTION
PROMPT_TOKENS = tokens(QUESTION)
COMPLETION_TOKENS = tokens(ANSWER)
TOTAL_TOKENS = PROMPT_TOKENS + COMPLETION_TOKENS

TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather", "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                       "required": ["city"]}}},
    {"type": "function", "function": {
        "name": "get_time", "description": "Local time",
        "parameters": {"type": "object", "properties": {"zone": {"type": "string", "enum": ["CET", "UTC"]},
                                                        "24h": {"type": "boolean"}}}}},
]


def first_key_tokens(usage: dict) -> int:
    return usage["details"]["mock"]["keys"][KEY_IDS[0]]["rate_limit_windows"]["tokens_day"]


def assert_proxy_headers(headers, model: str, key_index: int = 0) -> None:
    assert headers["x-gateway-provider"] == "mock"
    assert headers["x-gateway-model"] == model
    assert headers["x-gateway-key-id"] == KEY_IDS[key_index]
    assert headers["x-gateway-attempts"] == "1"


# Chat ------------------------------------------------------------------------------------------

def test_chat_completion(gateway, upstream):
    raw = gateway.openai().chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
    reply = raw.parse()
    assert reply.choices[0].message.content == ANSWER
    assert reply.choices[0].finish_reason == "stop"
    assert reply.model == "gpt-4o-mini"
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens, reply.usage.total_tokens) == (
        PROMPT_TOKENS, COMPLETION_TOKENS, TOTAL_TOKENS)
    assert_proxy_headers(raw.headers, "gpt-4o-mini")
    # Only the first provider key reached the upstream, once, answered 200.
    stats = upstream.stats()
    assert set(stats["by_key"]) == {PROVIDER_KEYS[0]}
    assert stats["by_key"][PROVIDER_KEYS[0]]["requests"] == 1
    assert stats["by_key"][PROVIDER_KEYS[0]]["statuses"] == {"200": 1}
    assert stats["by_key"][PROVIDER_KEYS[0]]["streamed"] == 0


@pytest.mark.parametrize(
    ("requested", "upstream_model"),
    [
        ("gpt-4o", "gpt-4o"),
        ("mock-large", "gpt-4o"),          # model_map rename
        ("mock/gpt-4o", "gpt-4o"),         # explicit entry name
        ("mock/gpt-4o-mini", "gpt-4o-mini"),
        ("mock/mock-large", "gpt-4o"),     # explicit entry name, then its rename
        ("auto-model", "gpt-4o-mini"),     # first of auto-models
    ],
)
def test_model_routing(gateway, requested, upstream_model):
    raw = gateway.openai().chat.completions.with_raw_response.create(model=requested, messages=MESSAGES)
    # The mock answers with the model it was sent.
    assert raw.parse().model == upstream_model
    assert raw.parse().choices[0].message.content == ANSWER
    assert_proxy_headers(raw.headers, "gpt-4o-mini" if requested == "auto-model" else requested)


def test_an_entry_named_in_front_wins_over_a_catch_all_glob(start_gateway, upstream):
    """An OpenRouter-like entry serving `*/*` listed first must not take `mock/gpt-4o`: naming
    the entry sends `gpt-4o` to it. A name no entry is called still goes to the glob, whole."""
    from gateway_fixtures import base_config

    config = base_config(upstream.url, entry={"key": [PROVIDER_KEYS[0]]})
    config["provider_keys"].insert(0, {
        "provider": "router", "type": "openai", "base_url": f"{upstream.url}/v1",
        "models": ["*/*"], "key": [PROVIDER_KEYS[1]]})
    gateway = start_gateway(config)
    client = gateway.openai()
    raw = client.chat.completions.with_raw_response.create(model="mock/gpt-4o", messages=MESSAGES)
    assert raw.parse().model == "gpt-4o"
    assert (raw.headers["x-gateway-provider"], raw.headers["x-gateway-model"]) == ("mock", "mock/gpt-4o")
    raw = client.chat.completions.with_raw_response.create(model="vendor/some-model", messages=MESSAGES)
    assert raw.parse().model == "vendor/some-model"
    assert (raw.headers["x-gateway-provider"], raw.headers["x-gateway-key-id"]) == ("router", KEY_IDS[1])


def test_second_access_key_and_x_api_key(gateway, upstream):
    reply = gateway.openai(key=SECOND_ACCESS_KEY).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert reply.choices[0].message.content == ANSWER
    response = gateway.chat({"model": "gpt-4o-mini", "messages": MESSAGES}, key=None, headers={"x-api-key": ACCESS_KEY})
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == ANSWER
    assert upstream.stats()["requests"] == 2


def test_chat_without_v1_prefix(gateway):
    response = gateway.chat({"model": "gpt-4o-mini", "messages": MESSAGES}, path="/chat/completions")
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == ANSWER
    assert response.headers["x-gateway-key-id"] == KEY_IDS[0]


def test_max_tokens_cut_is_relayed(gateway):
    reply = gateway.openai().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=3)
    assert reply.choices[0].message.content == ANSWER[:12]
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage.completion_tokens == 3


def test_client_headers_are_not_forwarded(gateway, upstream):
    """x-mock-* headers from a client must not reach the upstream (the gateway forwards none)."""
    response = gateway.chat({"model": "gpt-4o-mini", "messages": MESSAGES}, headers={"x-mock-status": "500"})
    assert response.status_code == 200
    assert upstream.stats()["statuses"] == {"200": 1}


# Streaming ------------------------------------------------------------------------------------

def _content(chunks) -> list:
    return [c.choices[0].delta.content for c in chunks if c.choices]


def test_stream_without_usage(gateway, upstream):
    chunks = list(gateway.openai().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))
    # role chunk, one chunk per word, finish chunk; no usage-only chunk.
    assert len(chunks) == 1 + len(words(ANSWER)) + 1
    assert all(len(c.choices) == 1 for c in chunks)
    assert all(c.usage is None for c in chunks)
    assert _content(chunks) == ["", *words(ANSWER), None]
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert upstream.key_stats(PROVIDER_KEYS[0])["streamed"] == 1
    # The gateway asked the upstream for usage anyway and settled to it.
    usage = gateway.wait_usage(lambda u: first_key_tokens(u) == TOTAL_TOKENS)
    assert first_key_tokens(usage) == TOTAL_TOKENS == upstream.key_stats(PROVIDER_KEYS[0])["total_tokens"]


def test_stream_with_include_usage(gateway, upstream):
    chunks = list(gateway.openai().chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}))
    assert len(chunks) == 1 + len(words(ANSWER)) + 1 + 1
    usage_chunks = [c for c in chunks if c.usage is not None]
    assert usage_chunks == [chunks[-1]]
    assert chunks[-1].choices == []
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens, chunks[-1].usage.total_tokens) == (
        PROMPT_TOKENS, COMPLETION_TOKENS, TOTAL_TOKENS)
    assert _content(chunks) == ["", *words(ANSWER), None]
    usage = gateway.wait_usage(lambda u: first_key_tokens(u) == TOTAL_TOKENS)
    assert first_key_tokens(usage) == TOTAL_TOKENS


def test_stream_with_include_usage_false(gateway):
    chunks = list(gateway.openai().chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": False}))
    assert len(chunks) == 1 + len(words(ANSWER)) + 1
    assert all(c.choices and c.usage is None for c in chunks)
    usage = gateway.wait_usage(lambda u: first_key_tokens(u) == TOTAL_TOKENS)
    assert first_key_tokens(usage) == TOTAL_TOKENS


def test_stream_headers(gateway):
    with gateway.openai().chat.completions.with_streaming_response.create(
        model="mock-large", messages=MESSAGES, stream=True
    ) as raw:
        assert raw.headers["content-type"].startswith("text/event-stream")
        assert_proxy_headers(raw.headers, "mock-large")
        chunks = list(raw.parse())
    assert {c.model for c in chunks} == {"gpt-4o"}


# Tools ----------------------------------------------------------------------------------------

def test_tool_call_and_tool_result_turn(gateway, upstream):
    client = gateway.openai()
    question = "Use a tool: weather in Paris?"
    first = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": question}], tools=TOOLS)
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    [call] = choice.message.tool_calls
    arguments = compact({"city": "mock-city", "days": 1})
    assert (call.id, call.type, call.function.name, call.function.arguments) == (
        "call_mock_get_weather", "function", "get_weather", arguments)
    assert first.usage.prompt_tokens == tokens(question)
    assert first.usage.completion_tokens == tokens(arguments)

    result = "sunny, 21 C"
    second = client.chat.completions.create(
        model="gpt-4o-mini", tools=TOOLS,
        messages=[
            {"role": "user", "content": question},
            choice.message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": result},
        ],
    )
    assert second.choices[0].message.content == TOOL_REPLY + result
    assert second.choices[0].finish_reason == "stop"
    assert second.usage.prompt_tokens == tokens(question + result)
    assert second.usage.completion_tokens == tokens(TOOL_REPLY + result)

    expected_total = first.usage.total_tokens + second.usage.total_tokens
    assert upstream.key_stats(PROVIDER_KEYS[0])["total_tokens"] == expected_total
    usage = gateway.wait_usage(lambda u: first_key_tokens(u) == expected_total)
    assert first_key_tokens(usage) == expected_total


def test_named_tool_choice_passes_through(gateway):
    reply = gateway.openai().chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, tools=TOOLS,
        tool_choice={"type": "function", "function": {"name": "get_time"}})
    [call] = reply.choices[0].message.tool_calls
    assert call.function.name == "get_time"
    assert json.loads(call.function.arguments) == {"zone": "CET", "24h": True}
    assert call.function.arguments == compact({"zone": "CET", "24h": True})


def test_streamed_tool_call(gateway):
    chunks = list(gateway.openai().chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "call get_time please"}], tools=TOOLS,
        stream=True, stream_options={"include_usage": True}))
    calls = [tc for c in chunks if c.choices and c.choices[0].delta.tool_calls for tc in c.choices[0].delta.tool_calls]
    assert calls[0].id == "call_mock_get_time" and calls[0].function.name == "get_time"
    assert "".join(tc.function.arguments or "" for tc in calls) == compact({"zone": "CET", "24h": True})
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["tool_calls"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == tokens(compact({"zone": "CET", "24h": True}))


# Models ---------------------------------------------------------------------------------------

def test_models_list(gateway):
    models = gateway.openai().models.list().data
    ids = [m.id for m in models]
    assert sorted(ids) == sorted(["gpt-4o-mini", "gpt-4o", "mock-large", "auto-model"])
    assert len(ids) == len(set(ids))
    assert all(m.object == "model" for m in models)
    owners = {m.id: m.owned_by for m in models}
    assert owners["gpt-4o"] == owners["mock-large"] == owners["gpt-4o-mini"] == "mock"


def test_models_list_without_auto_models(start_gateway, upstream):
    from gateway_fixtures import base_config

    gateway = start_gateway(base_config(upstream.url, **{"auto-models": []}))
    ids = [m.id for m in gateway.openai().models.list().data]
    assert sorted(ids) == sorted(["gpt-4o-mini", "gpt-4o", "mock-large"])


def test_models_retrieve(gateway):
    client = gateway.openai()
    assert client.models.retrieve("mock-large").id == "mock-large"
    assert client.models.retrieve("auto-model").id == "auto-model"
    explicit = gateway.get("/v1/models/mock/gpt-4o")
    assert explicit.status_code == 200
    assert explicit.json()["id"] == "mock/gpt-4o" and explicit.json()["owned_by"] == "mock"
    # The SDK percent-encodes the slash (/v1/models/mock%2Fgpt-4o).
    named = client.models.retrieve("mock/gpt-4o")
    assert (named.id, named.owned_by) == ("mock/gpt-4o", "mock")
    with pytest.raises(openai.NotFoundError) as raised:
        client.models.retrieve("gpt-5")
    assert raised.value.status_code == 404
    assert raised.value.body["code"] == "model_not_found"


def test_models_need_access_key(gateway):
    for path in ("/v1/models", "/v1/models/gpt-4o"):
        for key in (None, "wrong-key"):
            response = HTTP.get(f"{gateway.url}{path}", headers={"Authorization": f"Bearer {key}"} if key else {})
            assert response.status_code == 401, path
            assert response.json()["error"]["code"] == "invalid_api_key"
