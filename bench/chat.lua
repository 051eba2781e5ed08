-- wrk script: non-streaming chat completions against mock-provider (or the gateway).
-- Usage: wrk -t2 -c64 -d10s -s bench/chat.lua http://127.0.0.1:PORT/v1/chat/completions
-- KEY and STREAM can be set in the environment: KEY=sk-bench STREAM=1 wrk ...
local key = os.getenv("KEY") or "sk-bench"
local stream = os.getenv("STREAM") == "1"

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. key
wrk.body = '{"model":"mock-model","stream":' .. tostring(stream) ..
    ',"messages":[{"role":"system","content":"You are a benchmark."},' ..
    '{"role":"user","content":"Say something short about load testing, please."}]}'

-- wrk counts non-2xx/3xx answers itself; print them so a run that only measured errors is
-- obvious. (No response() hook: it would make wrk parse every body and slow the client.)
function done(summary, latency, requests)
    io.write(string.format("non-2xx/3xx: %d\n", summary.errors.status))
end
