"""The official google-genai SDK against mock-provider: generate_content, streaming, function calling."""

from __future__ import annotations

import httpx
import pytest
from google import genai
from google.genai import errors, types

from helpers import REPLY, TOOL_REPLY, compact, tokens, words

KEY = "gemini-test-key"
MODEL = "gemini-2.0-flash"

WEATHER = types.FunctionDeclaration(
    name="get_weather",
    description="Weather for a city",
    parameters=types.Schema(
        type=types.Type.OBJECT,
        properties={"city": types.Schema(type=types.Type.STRING), "days": types.Schema(type=types.Type.INTEGER)},
        required=["city"],
    ),
)


@pytest.fixture
def client(mock):
    return genai.Client(api_key=KEY, http_options=types.HttpOptions(base_url=mock.url))


def test_generate_content(client, mock):
    response = client.models.generate_content(
        model=MODEL,
        contents="Why is the sky blue?",
        config=types.GenerateContentConfig(system_instruction="Answer simply."),
    )
    text = REPLY + "Why is the sky blue?"
    assert response.text == text
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    usage = response.usage_metadata
    assert usage.prompt_token_count == tokens("Answer simply." + "Why is the sky blue?")
    assert usage.candidates_token_count == tokens(text)
    assert usage.total_token_count == usage.prompt_token_count + usage.candidates_token_count
    entry = mock.key_stats(KEY)
    assert entry["apis"] == {"gemini": 1} and entry["statuses"] == {"200": 1}


def test_max_output_tokens(client):
    response = client.models.generate_content(
        model=MODEL, contents="a question of some length",
        config=types.GenerateContentConfig(max_output_tokens=4),
    )
    assert response.text == (REPLY + "a question of some length")[:16]
    assert response.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS


def test_stream(client, mock):
    question = "List three colours"
    chunks = list(client.models.generate_content_stream(model=MODEL, contents=question))
    text = REPLY + question
    assert [c.text for c in chunks] == words(text)
    assert chunks[-1].usage_metadata.candidates_token_count == tokens(text)
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert mock.key_stats(KEY)["streamed"] == 1


def test_function_call_then_response(client):
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[WEATHER])],
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    question = types.Content(role="user", parts=[types.Part(text="Use a tool: weather in Oslo")])
    first = client.models.generate_content(model=MODEL, contents=[question], config=config)
    (call,) = first.function_calls
    assert call.name == "get_weather"
    assert call.args == {"city": "mock-city", "days": 1}
    assert first.usage_metadata.candidates_token_count == tokens(compact(call.args))

    second = client.models.generate_content(
        model=MODEL,
        contents=[
            question,
            first.candidates[0].content,
            types.Content(role="user", parts=[types.Part.from_function_response(name="get_weather", response={"forecast": "snow"})]),
        ],
        config=config,
    )
    assert second.text == TOOL_REPLY + '{"forecast":"snow"}'


def test_automatic_function_calling(client, mock):
    calls = []

    def get_weather(city: str) -> str:
        """Weather for a city."""
        calls.append(city)
        return "windy"

    response = client.models.generate_content(
        model=MODEL,
        contents="Call the tool for Bergen",
        config=types.GenerateContentConfig(tools=[get_weather]),
    )
    # The SDK ran the function with the mock's arguments and sent its result back.
    assert calls == ["mock-city"]
    assert response.text == TOOL_REPLY + '{"result":"windy"}'
    assert mock.key_stats(KEY)["requests"] == 2


def test_streamed_function_call(client):
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[WEATHER])],
        tool_config=types.ToolConfig(function_calling_config=types.FunctionCallingConfig(mode="ANY")),
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    chunks = list(client.models.generate_content_stream(model=MODEL, contents="hello", config=config))
    assert len(chunks) == 1
    assert chunks[0].function_calls[0].args == {"city": "mock-city", "days": 1}


def test_key_in_query_and_error_shape(mock):
    url = f"{mock.url}/v1beta/models/{MODEL}:generateContent"
    body = {"contents": [{"parts": [{"text": "hi"}]}]}
    ok = httpx.post(url, params={"key": "query-key"}, json=body)
    assert ok.json()["candidates"][0]["content"]["parts"][0]["text"] == REPLY + "hi"
    assert mock.key_stats("query-key")["requests"] == 1
    failed = httpx.post(url, params={"key": "query-key"}, json=body, headers={"x-mock-status": "429", "x-mock-retry-after": "9"})
    assert failed.status_code == 429
    assert failed.headers["retry-after"] == "9"
    assert failed.json() == {
        "error": {
            "code": 429,
            "message": "Injected fault: status 429 (mock-provider).",
            "status": "RESOURCE_EXHAUSTED",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "9s"}],
        }
    }


def test_sdk_sees_resource_exhausted(client):
    with pytest.raises(errors.ClientError) as error:
        client.models.generate_content(
            model=MODEL, contents="x",
            config=types.GenerateContentConfig(http_options=types.HttpOptions(headers={"x-mock-status": "429"})),
        )
    assert error.value.code == 429
    assert error.value.status == "RESOURCE_EXHAUSTED"
