/// The Lua scripts of `RedisUsageStore`: one EVALSHA reserves, one settles or releases.
///
/// Layout (all keys of one provider share the hash tag `{provider}`, so each script touches
/// one slot and runs unchanged on Redis Cluster):
/// - `gw:{p}:cur`      string, the provider's current key id (the usage-gap rule's state)
/// - `gw:{p}:cool`     hash, key id -> "untilMillis|reason"
/// - `gw:{p}:stats`    hash, "<id>:req" / "<id>:tok" -> lifetime totals (bounded by the key count)
/// - `gw:{p}:k:<id>`   hash per key: the rolling minute window as one bucket per second
///                     (`r<sec>`, `t<sec>`), their running totals `R`, `T`, the oldest live second
///                     `b`, and the calendar day `D` with its totals `dr`, `dt`.
///
/// Each access first expires the seconds that left the 60 s window, subtracting them from the
/// totals, so reading a window costs one HMGET whatever the traffic; the expiry loop runs at
/// most once per elapsed second. Key hashes carry a two-day TTL, refreshed when the day turns,
/// so idle keys disappear and nothing grows without bound.
enum UsageScripts {
    /// Shared prelude: time (Redis TIME unless a test passes one), the local day, the live window.
    /// ARGV[1] now in ms (0 = Redis TIME), ARGV[2] UTC offset now, ARGV[3] next offset change
    /// (epoch s, 0 = none), ARGV[4] offset after it.
    static let prelude = #"""
        local now = tonumber(ARGV[1])
        if now == 0 then
          local t = redis.call('TIME')
          now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        end
        local sec = math.floor(now / 1000)
        local off = tonumber(ARGV[2])
        local trans = tonumber(ARGV[3])
        if trans > 0 and sec >= trans then off = tonumber(ARGV[4]) end
        local day = math.floor((sec + off) / 86400)
        local lo = sec - 59
        local DAY_TTL = 172800

        -- Returns R, T, dr, dt, b of a key hash after expiring seconds older than the window.
        local function live(h)
          local v = redis.call('HMGET', h, 'b', 'R', 'T', 'D', 'dr', 'dt')
          local b = tonumber(v[1])
          local R = tonumber(v[2]) or 0
          local T = tonumber(v[3]) or 0
          local dr, dt = 0, 0
          if tonumber(v[4]) == day then
            dr = tonumber(v[5]) or 0
            dt = tonumber(v[6]) or 0
          end
          if b and b < lo then
            if lo - b >= 60 then
              -- Every bucket is stale: drop the hash, keep today's totals.
              redis.call('DEL', h)
              if dr > 0 or dt > 0 then
                redis.call('HSET', h, 'D', day, 'dr', dr, 'dt', dt)
                redis.call('EXPIRE', h, DAY_TTL)
              end
              return 0, 0, dr, dt, nil
            end
            for s = b, lo - 1 do
              local c = redis.call('HMGET', h, 'r' .. s, 't' .. s)
              if c[1] then
                R = R - tonumber(c[1])
                T = T - (tonumber(c[2]) or 0)
                redis.call('HDEL', h, 'r' .. s, 't' .. s)
              end
            end
            b = lo
            redis.call('HSET', h, 'b', b, 'R', R, 'T', T)
          end
          return R, T, dr, dt, b
        end
        """#

    /// KEYS: cur, cool, stats, then one hash per key. ARGV after the prelude's four: gap,
    /// estimated tokens, key count, then per key: id, rpm, tpm, rpd, tpd (0 = unlimited),
    /// excluded (1/0).
    /// Returns {1, key index (1-based), second, day} or {0, retry-at ms, reason}.
    static let reserve = RedisScript(prelude + "\n" + #"""
        local gap = tonumber(ARGV[5])
        local est = tonumber(ARGV[6])
        local n = tonumber(ARGV[7])

        local cool = {}
        local flat = redis.call('HGETALL', KEYS[2])
        for i = 1, #flat, 2 do
          local untilms = tonumber(string.match(flat[i + 1], '^(%d+)'))
          if untilms and untilms > now then cool[flat[i]] = untilms else redis.call('HDEL', KEYS[2], flat[i]) end
        end

        local keys = {}
        local best, bestUsage = nil, nil
        local anyRoom, anyIncluded = false, false
        for i = 1, n do
          local a = 7 + (i - 1) * 6
          local k = {id = ARGV[a + 1], rpm = tonumber(ARGV[a + 2]), tpm = tonumber(ARGV[a + 3]),
                     rpd = tonumber(ARGV[a + 4]), tpd = tonumber(ARGV[a + 5]), h = KEYS[3 + i]}
          keys[i] = k
          if ARGV[a + 6] ~= '1' then
            anyIncluded = true
            k.R, k.T, k.dr, k.dt, k.b = live(k.h)
            k.room = (k.rpm == 0 or k.R + 1 <= k.rpm) and (k.tpm == 0 or k.T + est <= k.tpm)
              and (k.rpd == 0 or k.dr + 1 <= k.rpd) and (k.tpd == 0 or k.dt + est <= k.tpd)
            if k.room then anyRoom = true end
            k.eligible = k.room and not cool[k.id]
            if k.eligible then
              if k.rpd > 0 then k.usage = k.dr * 100 / k.rpd
              elseif k.tpd > 0 then k.usage = k.dt * 100 / k.tpd
              else k.usage = k.dr end
              if bestUsage == nil or k.usage < bestUsage then best, bestUsage = i, k.usage end
            end
          end
        end

        if best == nil then
          if not anyIncluded then return {0, 0, 'exhausted'} end
          -- When does the earliest key free up? A key is free when all its blocking limits are.
          local nextDay = ((day + 1) * 86400 - off) * 1000
          local retry = nil
          for i = 1, n do
            local k = keys[i]
            if k.R ~= nil then
              local freeAt = now
              if cool[k.id] then freeAt = math.max(freeAt, cool[k.id]) end
              if (k.rpd > 0 and k.dr + 1 > k.rpd) or (k.tpd > 0 and k.dt + est > k.tpd) then
                freeAt = math.max(freeAt, nextDay)
              end
              local needR = (k.rpm > 0 and k.R + 1 > k.rpm)
              local needT = (k.tpm > 0 and k.T + est > k.tpm)
              if needR or needT then
                local freedR, freedT, at = 0, 0, nil
                for s = math.max(k.b or lo, lo), sec do
                  local c = redis.call('HMGET', k.h, 'r' .. s, 't' .. s)
                  if c[1] then
                    freedR = freedR + tonumber(c[1])
                    freedT = freedT + (tonumber(c[2]) or 0)
                    local okR = (not needR) or (k.R - freedR + 1 <= k.rpm)
                    local okT = (not needT) or (k.T - freedT + est <= k.tpm)
                    if okR and okT then at = (s + 60) * 1000 break end
                  end
                end
                freeAt = math.max(freeAt, at or ((sec + 60) * 1000))
              end
              if retry == nil or freeAt < retry then retry = freeAt end
            end
          end
          -- Relative to Redis's clock, so replica clocks never enter the answer.
          if anyRoom then return {0, retry - now, 'cooling_down'} end
          return {0, retry - now, 'window_full'}
        end

        local chosen = best
        local cur = redis.call('GET', KEYS[1])
        if cur then
          for i = 1, n do
            local k = keys[i]
            if k.id == cur then
              if k.eligible and k.usage <= bestUsage + gap then chosen = i end
              break
            end
          end
        end
        local k = keys[chosen]
        if k.id ~= cur then redis.call('SET', KEYS[1], k.id) end

        redis.call('HINCRBY', k.h, 'r' .. sec, 1)
        redis.call('HINCRBY', k.h, 't' .. sec, est)
        if k.b == nil or sec < k.b then
          redis.call('HSET', k.h, 'b', sec, 'R', k.R + 1, 'T', k.T + est, 'D', day, 'dr', k.dr + 1, 'dt', k.dt + est)
          redis.call('EXPIRE', k.h, DAY_TTL)
        else
          redis.call('HSET', k.h, 'R', k.R + 1, 'T', k.T + est, 'D', day, 'dr', k.dr + 1, 'dt', k.dt + est)
          if k.dr == 0 and k.dt == 0 then redis.call('EXPIRE', k.h, DAY_TTL) end
        end
        redis.call('HINCRBY', KEYS[3], k.id .. ':req', 1)
        return {1, chosen, sec, day}
        """#)

    /// KEYS: key hash, stats. ARGV: id, lease second, lease day, reserved tokens, actual tokens,
    /// release (1/0). Needs no clock: the minute totals always equal the sum of the buckets still
    /// in the hash (expiry subtracts a bucket's value when it removes it), so correcting a bucket
    /// and its total together is right whether or not the bucket is still in the window; a
    /// bucket already removed no longer counts and is left alone. The day totals are corrected
    /// only while the hash still holds the lease's day.
    static let settle = RedisScript(#"""
        local h = KEYS[1]
        local id = ARGV[1]
        local s = ARGV[2]
        local d = tonumber(ARGV[3])
        local reserved = tonumber(ARGV[4])
        local actual = tonumber(ARGV[5])
        local release = ARGV[6] == '1'
        local dT = actual - reserved
        if release then dT = -reserved end
        if redis.call('HEXISTS', h, 'r' .. s) == 1 then
          redis.call('HINCRBY', h, 't' .. s, dT)
          redis.call('HINCRBY', h, 'T', dT)
          if release then
            redis.call('HINCRBY', h, 'r' .. s, -1)
            redis.call('HINCRBY', h, 'R', -1)
          end
        end
        if tonumber(redis.call('HGET', h, 'D')) == d then
          redis.call('HINCRBY', h, 'dt', dT)
          if release then redis.call('HINCRBY', h, 'dr', -1) end
        end
        if release then
          redis.call('HINCRBY', KEYS[2], id .. ':req', -1)
        else
          redis.call('HINCRBY', KEYS[2], id .. ':tok', actual)
        end
        return 1
        """#)

    /// KEYS: cur, cool, stats, then one hash per key. ARGV after the prelude's four: key count,
    /// then the ids. Returns {cur or false, now, then per key: R, T, dr, dt, req, tok, until, reason}.
    static let snapshot = RedisScript(prelude + "\n" + #"""
        local n = tonumber(ARGV[5])
        local out = {redis.call('GET', KEYS[1]) or '', now}
        local cool = redis.call('HGETALL', KEYS[2])
        local cmap = {}
        for i = 1, #cool, 2 do cmap[cool[i]] = cool[i + 1] end
        for i = 1, n do
          local id = ARGV[5 + i]
          local R, T, dr, dt = live(KEYS[3 + i])
          local st = redis.call('HMGET', KEYS[3], id .. ':req', id .. ':tok')
          local untilms, reason = 0, ''
          local c = cmap[id]
          if c then
            local u, r = string.match(c, '^(%d+)|(.*)$')
            if u and tonumber(u) > now then untilms, reason = tonumber(u), r end
          end
          table.insert(out, R)
          table.insert(out, T)
          table.insert(out, dr)
          table.insert(out, dt)
          table.insert(out, tonumber(st[1]) or 0)
          table.insert(out, tonumber(st[2]) or 0)
          table.insert(out, untilms)
          table.insert(out, reason)
        end
        return out
        """#)
}

extension UsageScripts {
    /// KEYS: cool. ARGV: id, until ms, reason. Extends a cooldown, never shortens it, so a short
    /// 5xx penalty from one replica cannot cut a 429's Retry-After from another.
    static let cooldown = RedisScript(#"""
        local cur = redis.call('HGET', KEYS[1], ARGV[1])
        if cur then
          local u = tonumber(string.match(cur, '^(%d+)'))
          if u and u >= tonumber(ARGV[2]) then return 0 end
        end
        redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. '|' .. ARGV[3])
        return 1
        """#)
}
