"""Gemini and Anthropic entries behind the OpenAI API (issue 6): the openai SDK talks to the
gateway, the gateway talks to mock-provider's native Gemini and Anthropic APIs.

mock-provider's answers and token counts follow docs/mock-provider.md, so the values below are
predicted exactly; the usage the SDK sees and the gateway's token windows must both equal what
the provider reported.
"""
from __future__ import annotations

import json
import time

import openai
import pytest
from pydantic import BaseModel

from gateway_fixtures import KEY_IDS, PROVIDER_KEYS, assert_no_secrets, base_config
from helpers import CITY, REPLY, TOOL_REPLY, City, compact, key_id, tokens

QUESTION = "What is the capital of France?"
MESSAGES = [{"role": "user", "content": QUESTION}]
ANSWER = REPLY + QUESTION
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                   "required": ["city"]}}}]
ARGUMENTS = {"city": "mock-city", "days": 1}

MODELS = {"gemini": "gemini-mock-flash", "anthropic": "claude-mock-haiku"}


@pytest.fixture(params=["gemini", "anthropic"])
def native(request, start_gateway, upstream):
    """A gateway whose only entry is of the parametrized type, in front of mock-provider."""
    kind = request.param
    return kind, start_gateway(native_config(upstream.url, kind))


def native_config(url: str, kind: str) -> dict:
    """The suite's config with its one entry of type `kind` in front of `url`."""
    config = base_config(url, entry={"provider": "native", "type": kind, "base_url": url,
                                     "models": [MODELS[kind]], "model_map": {}})
    config["auto-models"] = [MODELS[kind]]
    return config


def window_tokens(gateway) -> int:
    return gateway.usage()["details"]["native"]["keys"][KEY_IDS[0]]["rate_limit_windows"]["tokens_day"]


def test_chat(native, upstream):
    kind, gateway = native
    raw = gateway.openai().chat.completions.with_raw_response.create(model=MODELS[kind], messages=MESSAGES)
    reply = raw.parse()
    assert reply.object == "chat.completion"
    assert reply.model == MODELS[kind]
    assert reply.choices[0].message.role == "assistant"
    assert reply.choices[0].message.content == ANSWER
    assert reply.choices[0].finish_reason == "stop"
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (tokens(QUESTION), tokens(ANSWER))
    assert reply.usage.total_tokens == tokens(QUESTION) + tokens(ANSWER)
    assert raw.headers["x-gateway-provider"] == "native"
    stats = upstream.stats()
    assert stats["apis"] == {kind: 1}
    assert stats["by_key"][PROVIDER_KEYS[0]]["statuses"] == {"200": 1}
    usage = gateway.wait_usage(lambda u: window_tokens(gateway) == reply.usage.total_tokens)
    assert usage["details"]["native"]["keys"][KEY_IDS[0]]["rate_limit_windows"]["tokens_day"] == reply.usage.total_tokens
    assert_no_secrets(raw.http_response, gateway)


@pytest.mark.parametrize("include_usage", [False, True])
def test_streaming(native, upstream, include_usage):
    kind, gateway = native
    options = {"stream_options": {"include_usage": True}} if include_usage else {}
    chunks = list(gateway.openai().chat.completions.create(model=MODELS[kind], messages=MESSAGES, stream=True, **options))
    assert len({c.id for c in chunks}) == 1
    assert all(c.object == "chat.completion.chunk" and c.model == MODELS[kind] for c in chunks)
    with_choices = [c for c in chunks if c.choices]
    assert with_choices[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in with_choices) == ANSWER
    assert [c.choices[0].finish_reason for c in with_choices if c.choices[0].finish_reason] == ["stop"]
    total = tokens(QUESTION) + tokens(ANSWER)
    if include_usage:
        assert chunks[-1].choices == []
        assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (tokens(QUESTION), tokens(ANSWER))
    else:
        assert all(c.usage is None for c in chunks)
    assert upstream.stats()["streamed"] == 1
    gateway.wait_usage(lambda u: window_tokens(gateway) == total)
    assert window_tokens(gateway) == total


def test_tool_round_trip(native, upstream):
    kind, gateway = native
    client = gateway.openai()
    question = "Use a tool: weather in Paris?"
    first = client.chat.completions.create(model=MODELS[kind], messages=[{"role": "user", "content": question}], tools=TOOLS)
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls
    assert call.type == "function" and call.function.name == "get_weather" and call.id
    assert json.loads(call.function.arguments) == ARGUMENTS
    assert first.usage.completion_tokens == tokens(compact(ARGUMENTS))

    result = "sunny, 21 C"
    second = client.chat.completions.create(
        model=MODELS[kind], tools=TOOLS,
        messages=[{"role": "user", "content": question}, choice.message.model_dump(exclude_none=True),
                  {"role": "tool", "tool_call_id": call.id, "content": result}])
    # Gemini carries a tool result as a response object; the mock echoes it as compact JSON.
    echoed = compact({"result": result}) if kind == "gemini" else result
    assert second.choices[0].message.content == TOOL_REPLY + echoed
    assert second.choices[0].finish_reason == "stop"
    assert second.usage.completion_tokens == tokens(TOOL_REPLY + echoed)

    expected = first.usage.total_tokens + second.usage.total_tokens
    assert upstream.key_stats(PROVIDER_KEYS[0])["total_tokens"] == expected
    gateway.wait_usage(lambda u: window_tokens(gateway) == expected)
    assert window_tokens(gateway) == expected


def test_streamed_tool_call(native):
    kind, gateway = native
    chunks = list(gateway.openai().chat.completions.create(
        model=MODELS[kind], messages=[{"role": "user", "content": "call get_weather please"}], tools=TOOLS, stream=True))
    calls = [tc for c in chunks if c.choices and c.choices[0].delta.tool_calls for tc in c.choices[0].delta.tool_calls]
    assert calls[0].id and calls[0].function.name == "get_weather"
    assert json.loads("".join(tc.function.arguments or "" for tc in calls)) == ARGUMENTS
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["tool_calls"]


def test_provider_error_in_openai_shape(native, upstream):
    kind, gateway = native
    upstream.patch_config({"faults": {"status": 400}})
    with pytest.raises(openai.BadRequestError) as raised:
        gateway.openai().chat.completions.create(model=MODELS[kind], messages=MESSAGES)
    error = raised.value.body
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"]
    assert PROVIDER_KEYS[0] not in json.dumps(error)


def test_a_gemini_key_refused_with_400_api_key_invalid_is_disabled_and_failed_over(start_gateway, upstream):
    """Gemini answers a wrong or expired key with 400 INVALID_ARGUMENT / API_KEY_INVALID, not a
    401: the gateway disables that key and serves from the next, instead of relaying a 400 that
    blames the client (and keeping the dead key, never charged, as the least used)."""
    bad = "sk-mock-expired-0001"
    gateway = start_gateway(base_config(upstream.url, model_usage_gap_percentage=0, **{"auto-models": []}, entry={
        "provider": "native", "type": "gemini", "base_url": upstream.url, "models": [MODELS["gemini"]],
        "model_map": {}, "key": [bad, PROVIDER_KEYS[0]]}))
    client = gateway.openai()
    for attempts in ("2", "1"):
        raw = client.chat.completions.with_raw_response.create(model=MODELS["gemini"], messages=MESSAGES)
        assert raw.parse().choices[0].message.content == ANSWER
        assert (raw.headers["x-gateway-attempts"], raw.headers["x-gateway-key-id"]) == (attempts, KEY_IDS[0])
    disabled = gateway.usage()["details"]["native"]["keys"][key_id(bad)]
    assert (disabled["status"], disabled["cooldown_reason"], disabled["requests"]) == ("disabled", "auth_rejected", 0)
    assert upstream.key_stats(bad)["statuses"] == {"400": 1}
    assert_no_secrets(raw.http_response, gateway)


@pytest.mark.parametrize("kind", ["gemini", "anthropic"])
def test_unsupported_member_is_a_400_and_nothing_is_sent(start_gateway, echo_upstream, kind):
    gateway = start_gateway(native_config(echo_upstream.url, kind))
    with pytest.raises(openai.BadRequestError) as raised:
        gateway.openai().chat.completions.create(model=MODELS[kind], messages=MESSAGES, logprobs=True)
    error = raised.value.body
    assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", "unsupported_parameter", "logprobs")
    assert echo_upstream.requests == []
    # The reservation was released: the refused request does not count.
    key = gateway.usage()["details"]["native"]["keys"][KEY_IDS[0]]
    assert (key["requests"], key["rate_limit_windows"]["tokens_day"]) == (0, 0)


@pytest.mark.parametrize("kind", ["gemini", "anthropic"])
def test_a_request_the_adapter_refuses_made_no_attempt(start_gateway, echo_upstream, kind):
    """Nothing reached the upstream, so `x-gateway-attempts` (and the log's `attempts`) is 0, as
    docs/api.md defines it: upstream tries made. The headers still name the entry that refused."""
    gateway = start_gateway(native_config(echo_upstream.url, kind))
    member = {"n": 2} if kind == "anthropic" else {"logprobs": True}
    response = gateway.chat({"model": MODELS[kind], "messages": MESSAGES, **member})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == next(iter(member))
    assert response.headers["x-gateway-attempts"] == "0"
    assert (response.headers["x-gateway-provider"], response.headers["x-gateway-model"]) == ("native", MODELS[kind])
    assert "x-gateway-key-id" not in response.headers
    assert echo_upstream.requests == []
    [line] = request_lines(gateway, 1)
    assert (line["status"], line["attempts"], line["error"]) == (400, 0, "unsupported_parameter")
    assert (line["provider"], line["model"], line["key_id"]) == ("native", MODELS[kind], None)


def request_lines(gateway, count: int) -> list[dict]:
    """The gateway's request log lines, once `count` are written (the writer runs beside)."""
    deadline = time.monotonic() + 5
    while True:
        lines = [json.loads(line) for line in gateway.log().splitlines() if line.startswith("{")]
        lines = [line for line in lines if line["msg"] == "request"]
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.02)


def interrupted_stream_text(gateway, kind: str) -> str:
    """Streams through the openai SDK, which must raise `stream_interrupted`; the text it got."""
    received = []
    with pytest.raises(openai.APIError) as raised:
        for chunk in gateway.openai().chat.completions.create(model=MODELS[kind], messages=MESSAGES, stream=True):
            if chunk.choices:
                received.append(chunk.choices[0].delta.content or "")
    assert raised.value.body["code"] == "stream_interrupted"
    return "".join(received)


def test_cut_stream_raises_in_the_sdk_and_counts_once(native, upstream):
    kind, gateway = native
    upstream.patch_config({"faults": {"cut_after_chunks": 3}})
    received = interrupted_stream_text(gateway, kind)
    assert ANSWER.startswith(received)
    assert upstream.stats()["requests"] == 1
    usage = gateway.wait_usage(lambda u: u["details"]["native"]["keys"][KEY_IDS[0]]["requests"] == 1)
    assert usage["details"]["native"]["keys"][KEY_IDS[0]]["requests"] == 1


CLEAN_CUT = {
    # message_start and one text delta; no message_delta (stop reason) nor message_stop.
    "anthropic": (
        'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant",'
        '"content":[],"model":"claude-mock-haiku","usage":{"input_tokens":5,"output_tokens":1}}}\n\n'
        'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n'
        'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}}\n\n'),
    # One candidate's text without its finishReason.
    "gemini": 'data: {"candidates":[{"content":{"parts":[{"text":"Hel"}],"role":"model"},"index":0}]}\r\n\r\n',
}


@pytest.mark.parametrize("kind", ["gemini", "anthropic"])
def test_a_native_stream_ending_cleanly_before_its_stop_is_interrupted(start_gateway, echo_upstream, kind):
    """A Messages stream without its stop, or a Gemini stream without its finish reason, that
    ends cleanly was cut on the way: the SDK raises stream_interrupted; the gateway does not
    add the `[DONE]` that would pass it off as whole."""
    gateway = start_gateway(native_config(echo_upstream.url, kind))
    echo_upstream.responder = lambda record: (200, {"Content-Type": "text/event-stream"}, CLEAN_CUT[kind].encode())
    received = interrupted_stream_text(gateway, kind)
    assert received == "Hel"


ECHOED_KEY = "custom-proxy-credential-0123456789"
ECHOING_ERROR = {
    "anthropic": {"type": "error", "error": {"type": "invalid_request_error", "message": f"bad request for {ECHOED_KEY}"}},
    "gemini": {"error": {"code": 400, "message": f"bad request for {ECHOED_KEY}", "status": "INVALID_ARGUMENT"}},
}


@pytest.mark.parametrize("kind", ["gemini", "anthropic"])
@pytest.mark.parametrize("stream", [False, True])
def test_a_provider_error_echoing_a_key_of_any_shape_is_redacted(start_gateway, echo_upstream, kind, stream):
    """The adapters pass a provider's error text on; a key shaped like no known provider's (a
    custom base_url's) that the provider echoes back is still taken out, as an answer and as a
    stream's error event."""
    config = native_config(echo_upstream.url, kind)
    config["provider_keys"][0]["key"] = [ECHOED_KEY]
    gateway = start_gateway(config)
    body = json.dumps(ECHOING_ERROR[kind]).encode()
    if stream:
        event = (b"event: error\n" if kind == "anthropic" else b"") + b"data: " + body + b"\n\n"
        echo_upstream.responder = lambda record: (200, {"Content-Type": "text/event-stream"}, event)
    else:
        echo_upstream.responder = lambda record: (400, {"Content-Type": "application/json"}, body)
    response = gateway.chat({"model": MODELS[kind], "messages": MESSAGES, "stream": stream})
    assert response.status_code in (400, 502), response.text
    assert "bad request for [redacted]" in response.json()["error"]["message"]
    assert_no_secrets(response, gateway)
    assert ECHOED_KEY not in gateway.log()


class GetWeather(BaseModel):
    city: str
    days: int



@pytest.fixture(params=["openai", "gemini"])
def structured(request, start_gateway, upstream):
    """A gateway in front of mock-provider's OpenAI API (the standard config) or its Gemini API."""
    if request.param == "openai":
        return "gpt-4o-mini", start_gateway(base_config(upstream.url))
    return MODELS["gemini"], start_gateway(native_config(upstream.url, "gemini"))


def test_structured_output_with_a_pydantic_model(structured, upstream):
    # The SDK sends a strict JSON Schema: additionalProperties false on every object, the nested
    # model under $defs with a $ref, the optional field as anyOf. Gemini's responseSchema takes
    # none of these (the real API answers 400 "Unknown name"), so the gateway must send it as
    # responseJsonSchema; mock-provider refuses them in responseSchema as Google does.
    model, gateway = structured
    completion = gateway.openai().chat.completions.parse(
        model=model, messages=[{"role": "user", "content": "Describe Paris"}], response_format=City)
    message = completion.choices[0].message
    assert message.parsed == CITY
    assert completion.usage.completion_tokens == tokens(compact(CITY.model_dump()))
    assert upstream.stats()["by_key"][PROVIDER_KEYS[0]]["statuses"] == {"200": 1}


def test_strict_function_tool(structured):
    model, gateway = structured
    completion = gateway.openai().chat.completions.parse(
        model=model, messages=[{"role": "user", "content": "GetWeather in Paris"}],
        tools=[openai.pydantic_function_tool(GetWeather)])
    [call] = completion.choices[0].message.tool_calls
    assert call.function.name == "GetWeather"
    assert call.function.parsed_arguments == GetWeather(city="mock-city", days=1)
    assert completion.choices[0].finish_reason == "tool_calls"


GEMINI_3 = "gemini-3-mock-pro"


@pytest.mark.parametrize("stream", [False, True])
def test_gemini_3_thought_signatures_survive_the_openai_round_trip(start_gateway, upstream, stream):
    """Gemini 3 signs its function calls and refuses the next turn without the signature (400
    "Function call is missing a thought_signature in functionCall parts"; the mock does the same).
    The openai SDK hands back only the tool call id, which carries it."""
    gateway = start_gateway(base_config(upstream.url, **{"auto-models": []}, entry={
        "provider": "native", "type": "gemini", "base_url": upstream.url, "models": [GEMINI_3], "model_map": {}}))
    client = gateway.openai()
    question = [{"role": "user", "content": "Use a tool: weather in Paris?"}]
    if stream:
        chunks = list(client.chat.completions.create(model=GEMINI_3, messages=question, tools=TOOLS, stream=True))
        [delta] = [tc for c in chunks if c.choices and c.choices[0].delta.tool_calls for tc in c.choices[0].delta.tool_calls]
        call = {"id": delta.id, "type": "function",
                "function": {"name": delta.function.name, "arguments": delta.function.arguments}}
    else:
        call = client.chat.completions.create(model=GEMINI_3, messages=question, tools=TOOLS).choices[0].message.tool_calls[0]
        call = call.model_dump()
    assert "__thought__" in call["id"]
    assert all(c.isalnum() or c in "_-" for c in call["id"])
    second = client.chat.completions.create(model=GEMINI_3, tools=TOOLS, messages=question + [
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": "sunny"}])
    assert second.choices[0].message.content == TOOL_REPLY + compact({"result": "sunny"})
    # A step written by another provider has no signature: Google's documented stand-in goes instead.
    foreign = client.chat.completions.create(model=GEMINI_3, tools=TOOLS, messages=question + [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "toolu_01abc", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "toolu_01abc", "content": "rain"}])
    assert foreign.choices[0].message.content == TOOL_REPLY + compact({"result": "rain"})


def test_gemini_tool_call_ids_are_new_in_every_answer(start_gateway, upstream):
    """Anthropic refuses repeated tool_use ids; auto-model may take a Gemini conversation there."""
    gateway = start_gateway(native_config(upstream.url, "gemini"))
    client = gateway.openai()
    question = [{"role": "user", "content": "Use a tool: weather in Paris?"}]
    ids = {client.chat.completions.create(model=MODELS["gemini"], messages=question, tools=TOOLS).choices[0].message.tool_calls[0].id
           for _ in range(2)}
    assert len(ids) == 2


def test_empty_texts_are_left_out(native):
    """OpenAI accepts empty text; Anthropic and Gemini refuse it (the mock too)."""
    kind, gateway = native
    reply = gateway.openai().chat.completions.create(model=MODELS[kind], messages=[
        {"role": "system", "content": ""}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": ""}, {"role": "assistant", "content": "Anything else?"},
        {"role": "user", "content": [{"type": "text", "text": ""}, {"type": "text", "text": QUESTION}]}])
    assert reply.choices[0].message.content == ANSWER


def test_an_anthropic_prefill_loses_its_trailing_whitespace(start_gateway, upstream):
    """Anthropic: "final assistant content cannot end with trailing whitespace" (the mock too)."""
    gateway = start_gateway(native_config(upstream.url, "anthropic"))
    reply = gateway.openai().chat.completions.create(model=MODELS["anthropic"], messages=[
        {"role": "user", "content": QUESTION}, {"role": "assistant", "content": "The capital is "}])
    assert reply.choices[0].message.content == ANSWER
