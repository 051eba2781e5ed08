"""The official openai SDK against mock-provider: chat, streaming, tools, embeddings, models."""

from __future__ import annotations

import json

import openai
import pytest

from helpers import REPLY, TOOL_REPLY, compact, embedding, key_id, tokens, words

KEY = "sk-openai-test"

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer"},
            },
            "required": ["city"],
        },
    },
}


@pytest.fixture
def client(mock):
    return openai.OpenAI(api_key=KEY, base_url=f"{mock.url}/v1", max_retries=0)


def test_chat_answer_usage_and_stats(client, mock):
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "What is the capital of France?"},
    ]
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    text = REPLY + "What is the capital of France?"
    assert reply.choices[0].message.content == text
    assert reply.choices[0].finish_reason == "stop"
    assert reply.model == "gpt-4o-mini"
    prompt = tokens("You are terse." + "What is the capital of France?")
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (prompt, tokens(text))
    assert reply.usage.total_tokens == prompt + tokens(text)

    stats = mock.stats()
    assert stats["requests"] == 1
    entry = stats["by_key"][KEY]
    assert entry["requests"] == 1 and entry["statuses"] == {"200": 1} and entry["apis"] == {"openai": 1}
    assert (entry["prompt_tokens"], entry["completion_tokens"]) == (prompt, tokens(text))
    assert stats["keys"][key_id(KEY)]["key"] == KEY
    assert entry["key_id"] == key_id(KEY)


def test_content_parts_are_joined_with_newlines(client):
    reply = client.chat.completions.create(
        model="mock-model",
        messages=[{"role": "user", "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]}],
    )
    assert reply.choices[0].message.content == REPLY + "one\ntwo"


def test_max_tokens_cuts_the_answer(client):
    reply = client.chat.completions.create(
        model="mock-model", max_tokens=3, messages=[{"role": "user", "content": "a rather long question"}]
    )
    assert reply.choices[0].message.content == (REPLY + "a rather long question")[:12]
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage.completion_tokens == 3


def test_stream_without_usage(client, mock):
    question = "Tell me a story about a fox"
    stream = client.chat.completions.create(
        model="gpt-4o-mini", stream=True, messages=[{"role": "user", "content": question}]
    )
    chunks = list(stream)
    text = REPLY + question
    # role chunk, one chunk per word, finish chunk; no usage chunk.
    assert len(chunks) == 1 + len(words(text)) + 1
    assert [c.choices[0].delta.content for c in chunks[1:-1]] == words(text)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == text
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks)
    assert mock.key_stats(KEY)["streamed"] == 1


def test_stream_with_usage(client):
    question = "Count to three"
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        stream=True,
        stream_options={"include_usage": True},
        messages=[{"role": "user", "content": question}],
    )
    chunks = list(stream)
    text = REPLY + question
    last = chunks[-1]
    assert last.choices == []
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (tokens(question), tokens(text))
    assert all(c.usage is None for c in chunks[:-1])
    assert "".join(c.choices[0].delta.content or "" for c in chunks[:-1]) == text


def test_tool_call_then_tool_result(client, mock):
    messages = [{"role": "user", "content": "Use a tool to get the weather in Paris"}]
    first = client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=[WEATHER_TOOL])
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (call,) = choice.message.tool_calls
    assert call.id == "call_mock_get_weather"
    assert call.function.name == "get_weather"
    args = {"city": "mock-city", "days": 1, "unit": "celsius"}
    assert call.function.arguments == compact(args)
    assert first.usage.completion_tokens == tokens(compact(args))

    messages += [
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21 C"},
    ]
    second = client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=[WEATHER_TOOL])
    assert second.choices[0].message.content == TOOL_REPLY + "sunny, 21 C"
    assert second.choices[0].finish_reason == "stop"
    assert mock.key_stats(KEY)["statuses"] == {"200": 2}


def test_no_tool_call_without_the_word(client):
    reply = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}], tools=[WEATHER_TOOL]
    )
    assert reply.choices[0].message.tool_calls is None
    assert reply.choices[0].message.content == REPLY + "hello"


def test_tool_named_in_text_and_forced_choice(client):
    other = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}
    named = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "please lookup x"}], tools=[WEATHER_TOOL, other]
    )
    assert named.choices[0].message.tool_calls[0].function.name == "lookup"
    forced = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}], tools=[WEATHER_TOOL, other],
        tool_choice={"type": "function", "function": {"name": "lookup"}},
    )
    assert forced.choices[0].message.tool_calls[0].function.arguments == '{"q":"mock-q"}'
    none = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "use a tool"}], tools=[WEATHER_TOOL], tool_choice="none"
    )
    assert none.choices[0].message.tool_calls is None


def test_streamed_tool_call(client):
    stream = client.chat.completions.create(
        model="gpt-4o-mini", stream=True, tools=[WEATHER_TOOL],
        messages=[{"role": "user", "content": "call the tool"}],
    )
    chunks = list(stream)
    calls = [tc for c in chunks if c.choices and c.choices[0].delta.tool_calls for tc in c.choices[0].delta.tool_calls]
    assert calls[0].id == "call_mock_get_weather" and calls[0].function.name == "get_weather"
    arguments = "".join(tc.function.arguments or "" for tc in calls)
    assert json.loads(arguments) == {"city": "mock-city", "days": 1, "unit": "celsius"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_embeddings_base64_default_and_floats(client, mock):
    # The SDK asks for base64 by default and decodes it.
    result = client.embeddings.create(model="text-embedding-3-small", input=["alpha", "beta gamma"])
    assert [d.index for d in result.data] == [0, 1]
    assert result.data[0].embedding == embedding("alpha", 16)
    assert result.data[1].embedding == embedding("beta gamma", 16)
    assert result.usage.prompt_tokens == tokens("alpha" + "beta gamma")

    floats = client.embeddings.create(model="e", input="alpha", dimensions=40, encoding_format="float")
    assert floats.data[0].embedding == embedding("alpha", 40)
    assert mock.key_stats(KEY)["requests"] == 2


def test_models(client):
    ids = [m.id for m in client.models.list()]
    assert ids == ["mock-model", "gpt-4o-mini", "claude-3-5-haiku-latest", "gemini-2.0-flash"]
    assert client.models.retrieve("gpt-4o-mini").id == "gpt-4o-mini"
    with pytest.raises(openai.NotFoundError) as error:
        client.models.retrieve("no-such-model")
    assert error.value.body["code"] == "model_not_found"


def test_bad_request_shape(client):
    with pytest.raises(openai.BadRequestError) as error:
        client.chat.completions.create(model="m", messages=[])
    assert error.value.status_code == 400
    assert set(error.value.response.json()["error"]) == {"message", "type", "param", "code"}
