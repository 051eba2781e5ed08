"""The official google-genai SDK against mock-provider: generate_content, streaming, function calling."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from google import genai
from google.genai import errors, types

from helpers import CITY, REPLY, TOOL_REPLY, City, compact, tokens, words

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


def test_response_json_schema_gives_a_json_answer(client, mock):
    # The SDK sends a Pydantic model's JSON Schema ($defs, $ref, anyOf) as responseJsonSchema.
    response = client.models.generate_content(
        model=MODEL, contents="Describe Paris",
        config=types.GenerateContentConfig(response_mime_type="application/json", response_json_schema=City.model_json_schema()),
    )
    assert json.loads(response.text) == CITY.model_dump()
    assert response.usage_metadata.candidates_token_count == tokens(compact(CITY.model_dump()))


def test_function_declared_with_json_schema(client):
    declaration = types.FunctionDeclaration(name="describe", parameters_json_schema=City.model_json_schema())
    response = client.models.generate_content(
        model=MODEL, contents="describe Paris",
        config=types.GenerateContentConfig(tools=[types.Tool(function_declarations=[declaration])]),
    )
    assert response.function_calls[0].args == CITY.model_dump()


@pytest.mark.parametrize("keyword", ["additionalProperties", "$defs", "$ref"])
def test_json_schema_keywords_are_refused_in_the_openapi_subset_fields(mock, keyword):
    # As Google's API: `responseSchema` and `parameters` are protobuf Schema messages, which have
    # none of these keywords; JSON Schema goes in responseJsonSchema / parametersJsonSchema.
    url = f"{mock.url}/v1beta/models/{MODEL}:generateContent"
    value = {"additionalProperties": False, "$defs": {}, "$ref": "#/$defs/X"}[keyword]
    schema = {"type": "object", "properties": {"a": {"type": "object", keyword: value}}}
    contents = [{"parts": [{"text": "hi"}]}]
    refused = httpx.post(url, params={"key": KEY}, json={
        "contents": contents, "generationConfig": {"responseMimeType": "application/json", "responseSchema": schema}})
    assert refused.status_code == 400
    assert refused.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert refused.json()["error"]["message"] == (
        f"Invalid JSON payload received. Unknown name \"{keyword}\" at "
        "'generation_config.response_schema.properties[a]': Cannot find field.")
    refused = httpx.post(url, params={"key": KEY}, json={
        "contents": contents, "tools": [{"functionDeclarations": [{"name": "f", "parameters": schema}]}]})
    assert refused.status_code == 400
    assert f"Unknown name \"{keyword}\" at 'tools[0].function_declarations[0].parameters.properties[a]'" in refused.json()["error"]["message"]
    accepted = httpx.post(url, params={"key": KEY}, json={
        "contents": contents, "tools": [{"functionDeclarations": [{"name": "f", "parametersJsonSchema": schema}]}],
        "generationConfig": {"responseMimeType": "application/json", "responseJsonSchema": schema}})
    assert accepted.status_code == 200


def test_a_schema_in_both_forms_is_refused(mock):
    url = f"{mock.url}/v1beta/models/{MODEL}:generateContent"
    schema = {"type": "object", "properties": {}}
    refused = httpx.post(url, params={"key": KEY}, json={
        "contents": [{"parts": [{"text": "hi"}]}],
        "tools": [{"functionDeclarations": [{"name": "f", "parameters": schema, "parametersJsonSchema": schema}]}]})
    assert refused.status_code == 400
    assert "mutually exclusive" in refused.json()["error"]["message"]


def test_an_empty_text_part_is_refused(mock):
    response = httpx.post(f"{mock.url}/v1beta/models/gemini-2.0-flash:generateContent", headers={"x-goog-api-key": "k"},
                          json={"contents": [{"role": "user", "parts": [{"text": ""}]}]})
    assert response.status_code == 400
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert response.json()["error"]["message"].startswith("Unable to submit request because it has an empty text parameter.")


def test_gemini_3_signs_function_calls_and_wants_the_signature_back(mock):
    url = f"{mock.url}/v1beta/models/gemini-3-pro-preview:generateContent"
    tools = [{"functionDeclarations": [{"name": "get_weather", "parametersJsonSchema": {"type": "object"}}]}]
    ask = {"role": "user", "parts": [{"text": "Use a tool"}]}
    first = httpx.post(url, headers={"x-goog-api-key": "k"}, json={"contents": [ask], "tools": tools}).json()
    part = first["candidates"][0]["content"]["parts"][0]
    assert part["thoughtSignature"] == base64.b64encode(b"mock-signature:get_weather").decode()
    answer = {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"result": "sun"}}}]}
    unsigned = {"role": "model", "parts": [{"functionCall": part["functionCall"]}]}
    refused = httpx.post(url, headers={"x-goog-api-key": "k"}, json={"contents": [ask, unsigned, answer], "tools": tools})
    assert refused.status_code == 400
    assert refused.json()["error"]["message"].startswith(
        "Function call is missing a thought_signature in functionCall parts.")
    signed = httpx.post(url, headers={"x-goog-api-key": "k"},
                        json={"contents": [ask, {"role": "model", "parts": [part]}, answer], "tools": tools})
    assert signed.status_code == 200
