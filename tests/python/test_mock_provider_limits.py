"""Per-key provider limits (requests and tokens per minute) and key checks, in each API's dialect."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import anthropic
import httpx
import openai
import pytest
from google import genai
from google.genai import errors, types

from helpers import tokens

LIMITED = "sk-limited"  # 10 requests per minute in mock-config.example.json
MESSAGES = [{"role": "user", "content": "ping"}]


def openai_client(mock, key):
    return openai.OpenAI(api_key=key, base_url=f"{mock.url}/v1", max_retries=0)


def test_eleventh_request_in_the_minute_gets_429(mock):
    client = openai_client(mock, LIMITED)
    first = client.chat.completions.with_raw_response.create(model="m", messages=MESSAGES)
    assert first.headers["x-ratelimit-limit-requests"] == "10"
    assert first.headers["x-ratelimit-remaining-requests"] == "9"
    assert re.fullmatch(r"\d+(\.\d+)?s", first.headers["x-ratelimit-reset-requests"])
    for _ in range(9):
        client.chat.completions.create(model="m", messages=MESSAGES)

    with pytest.raises(openai.RateLimitError) as error:
        client.chat.completions.create(model="m", messages=MESSAGES)
    response = error.value.response
    assert response.status_code == 429
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= 60
    assert response.headers["x-ratelimit-remaining-requests"] == "0"
    assert error.value.body["code"] == "rate_limit_exceeded"
    assert error.value.body["type"] == "requests"

    # Another key is unaffected.
    other = openai_client(mock, "sk-other-key").chat.completions.create(model="m", messages=MESSAGES)
    assert other.choices[0].message.content == "Mock reply to: ping"

    assert mock.key_stats(LIMITED)["statuses"] == {"200": 10, "429": 1}
    assert mock.key_stats("sk-other-key")["statuses"] == {"200": 1}


def test_limit_is_per_key_across_apis_with_each_dialects_headers(mock):
    client = openai_client(mock, LIMITED)
    for _ in range(10):
        client.chat.completions.create(model="m", messages=MESSAGES)

    claude = anthropic.Anthropic(api_key=LIMITED, base_url=mock.url, max_retries=0)
    with pytest.raises(anthropic.RateLimitError) as error:
        claude.messages.create(model="c", max_tokens=10, messages=MESSAGES)
    headers = error.value.response.headers
    assert error.value.body["error"]["type"] == "rate_limit_error"
    assert headers["anthropic-ratelimit-requests-limit"] == "10"
    assert headers["anthropic-ratelimit-requests-remaining"] == "0"
    reset = datetime.fromisoformat(headers["anthropic-ratelimit-requests-reset"].replace("Z", "+00:00"))
    assert 0 <= (reset - datetime.now(timezone.utc)).total_seconds() <= 61
    assert 1 <= int(headers["retry-after"]) <= 60

    gemini = genai.Client(api_key=LIMITED, http_options=types.HttpOptions(base_url=mock.url))
    with pytest.raises(errors.ClientError) as gerror:
        gemini.models.generate_content(model="gemini-2.0-flash", contents="ping")
    assert gerror.value.code == 429 and gerror.value.status == "RESOURCE_EXHAUSTED"

    assert mock.key_stats(LIMITED)["statuses"] == {"200": 10, "429": 2}
    assert mock.key_stats(LIMITED)["apis"] == {"openai": 10, "anthropic": 1, "gemini": 1}


def test_reset_clears_the_window(mock):
    client = openai_client(mock, LIMITED)
    for _ in range(10):
        client.chat.completions.create(model="m", messages=MESSAGES)
    mock.reset()
    assert client.chat.completions.create(model="m", messages=MESSAGES).choices[0].finish_reason == "stop"


def test_tokens_per_minute(mock):
    # sk-tokens: 40 tokens per minute; each request below costs 10 prompt + 14 completion tokens.
    question = "x" * 40
    client = openai_client(mock, "sk-tokens")
    first = client.chat.completions.with_raw_response.create(model="m", messages=[{"role": "user", "content": question}])
    cost = tokens(question) + tokens("Mock reply to: " + question)
    assert cost == 24
    assert first.headers["x-ratelimit-limit-tokens"] == "40"
    assert first.headers["x-ratelimit-remaining-tokens"] == str(40 - cost)
    with pytest.raises(openai.RateLimitError) as error:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": question}])
    assert error.value.body["type"] == "tokens"
    assert mock.key_stats("sk-tokens")["prompt_tokens"] == 10  # refused requests add no tokens


def test_runtime_limits_through_config_patch(mock):
    mock.patch_config({"keys": {"sk-runtime": {"requests_per_minute": 2}}})
    client = openai_client(mock, "sk-runtime")
    client.chat.completions.create(model="m", messages=MESSAGES)
    client.chat.completions.create(model="m", messages=MESSAGES)
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="m", messages=MESSAGES)


def test_unknown_and_missing_keys_get_401_in_each_shape(strict):
    """Gemini's unknown key is the exception, as the real API: 400 API_KEY_INVALID."""
    with pytest.raises(openai.AuthenticationError) as error:
        openai_client(strict, "sk-unknown").chat.completions.create(model="m", messages=MESSAGES)
    assert error.value.body["code"] == "invalid_api_key"
    assert set(error.value.response.json()["error"]) == {"message", "type", "param", "code"}

    with pytest.raises(anthropic.AuthenticationError) as aerror:
        anthropic.Anthropic(api_key="sk-unknown", base_url=strict.url, max_retries=0).messages.create(
            model="c", max_tokens=5, messages=MESSAGES
        )
    assert aerror.value.body == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "Invalid API key (mock-provider)."},
    }

    # Keep the client referenced: a dropped genai.Client closes its HTTP client.
    gemini = genai.Client(api_key="sk-unknown", http_options=types.HttpOptions(base_url=strict.url))
    with pytest.raises(errors.ClientError) as gerror:
        gemini.models.generate_content(model="gemini-2.0-flash", contents="x")
    assert gerror.value.code == 400 and gerror.value.status == "INVALID_ARGUMENT"
    assert gerror.value.details["error"]["details"] == [{
        "@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com",
        "metadata": {"service": "generativelanguage.googleapis.com"}}]

    missing = httpx.post(f"{strict.url}/v1/chat/completions", json={"model": "m", "messages": MESSAGES})
    assert missing.status_code == 401
    assert missing.json()["error"]["message"] == "Missing API key (mock-provider)."

    known = openai_client(strict, "sk-known").chat.completions.create(model="m", messages=MESSAGES)
    assert known.choices[0].message.content == "Mock reply to: ping"
    stats = strict.stats()
    assert stats["by_key"]["sk-unknown"]["statuses"] == {"401": 2, "400": 1}
    assert stats["statuses"] == {"401": 3, "400": 1, "200": 1}
    assert stats["requests"] == 5


def test_replacing_the_config_at_runtime(strict):
    strict.set_config({"keys": {"sk-new": {}}})
    with pytest.raises(openai.AuthenticationError):
        openai_client(strict, "sk-known").chat.completions.create(model="m", messages=MESSAGES)
    assert openai_client(strict, "sk-new").chat.completions.create(model="m", messages=MESSAGES).choices
    config = httpx.get(f"{strict.url}/_mock/config").json()
    assert config == {"keys": {"sk-new": {}}}
