/// The Lua scripts of `RedisUsageStore`: one EVALSHA reserves, one settles or releases.
///
/// Layout (every key of a provider carries the hash tag `{provider}`, so each script touches one
/// slot and runs unchanged on Redis Cluster; every key a script touches is passed in KEYS):
/// - `gw:{p}:w`        hash, the provider's hot state, read by reserve with ONE HMGET whatever the
///                     key count: `cur` (the usage-gap rule's current key id), and per key id one
///                     field holding its state packed as nine little-endian doubles (see `STATE`)
///                     plus `<id>:cr`, the reason of its cooldown.
/// - `gw:{p}:k:<id>`   hash per key: the minute window's buckets, one per second (`r<sec>`,
///                     `t<sec>`). Only touched to record a reservation and to expire old seconds.
///
/// Why packed: Redis's Lua spends about half a microsecond on every number parsed from or
/// formatted into a string (strtod / sprintf), which made a text-field layout cost 150 us per
/// reserve for ten keys. `struct.unpack` reads a key's whole state in one C call. The scalar
/// arguments travel the same way, packed into ARGV[1] by `RedisUsageStore`.
///
/// The minute totals always equal the sum of the buckets still stored: expiry subtracts a
/// bucket's value when it deletes it, at most once per elapsed second per key, so a window costs
/// the same to read at 1 or 100,000 requests a minute. Bucket hashes live 120 s past their last
/// write or expiry pass; the provider hash lives 30 days past a key's last first-request-of-a-day
/// (its size is bounded by the keys the provider ever had), so idle state disappears.
enum UsageScripts {
    /// Shared prelude. ARGV[1] is the packed header: now in ms (0 = Redis TIME), UTC offset now,
    /// next offset change (epoch s, 0 = none), offset after it, then script-specific doubles.
    /// `header(n)` unpacks the first n doubles.
    static let prelude = #"""
        local STATE = '<ddddddddd'   -- b, R, T, D, dr, dt, cu, q, k
        local W = KEYS[1]
        local BUCKET_TTL = 120
        local STATE_TTL = 2592000
        local now, off, trans, offAfter = struct.unpack('<dddd', ARGV[1])
        if now == 0 then
          local t = redis.call('TIME')
          now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        end
        local sec = math.floor(now / 1000)
        if trans > 0 and sec >= trans then off = offAfter end
        local day = math.floor((sec + off) / 86400)
        local lo = sec - 59

        -- A key's state from its packed field (absent: all zero).
        local function decode(id, h, packed)
          local k = {id = id, h = h, b = 0, R = 0, T = 0, D = 0, dr = 0, dt = 0, cu = 0, q = 0, tok = 0}
          if packed then
            k.b, k.R, k.T, k.D, k.dr, k.dt, k.cu, k.q, k.tok = struct.unpack(STATE, packed)
          end
          -- A new day starts from zero; the first request of it refreshes the hash's TTL.
          if k.D ~= day then k.D, k.dr, k.dt, k.newDay = day, 0, 0, true end
          return k
        end

        local function encode(k)
          return struct.pack(STATE, k.b, k.R, k.T, k.D, k.dr, k.dt, k.cu, k.q, k.tok)
        end

        -- Expires the seconds of key k that left the window; true when k changed.
        local function window(k)
          if k.b == 0 or k.b >= lo then return false end
          if lo - k.b >= 60 then
            redis.call('DEL', k.h)
            k.b, k.R, k.T = 0, 0, 0
            return true
          end
          for s = k.b, lo - 1 do
            local c = redis.call('HMGET', k.h, 'r' .. s, 't' .. s)
            if c[1] then
              k.R = k.R - tonumber(c[1])
              k.T = k.T - (tonumber(c[2]) or 0)
              redis.call('HDEL', k.h, 'r' .. s, 't' .. s)
            end
          end
          k.b = lo
          redis.call('EXPIRE', k.h, BUCKET_TTL)
          return true
        end
        """#

    /// KEYS: provider hash, then one bucket hash per key. ARGV[1]: header + gap, estimated
    /// tokens, rpm, tpm, rpd, tpd (0 = unlimited; one set for the entry's keys), key count n;
    /// ARGV[2..n+1]: the key ids; then the ids the caller excludes (already tried).
    /// Returns {1, key index (1-based), second, day} or {0, retry-after ms, reason}.
    static let reserve = RedisScript(prelude + "\n" + #"""
        local _, _, _, _, gap, est, rpm, tpm, rpd, tpd, n = struct.unpack('<ddddddddddd', ARGV[1])
        local excluded = {}
        for i = n + 2, #ARGV do excluded[ARGV[i]] = true end
        local fields = {'cur'}
        for i = 1, n do fields[i + 1] = ARGV[i + 1] end
        local v = redis.call('HMGET', W, unpack(fields))
        local cur = v[1]
        local keys, out = {}, {}

        local best, bestUsage = nil, nil
        local anyRoom, anyIncluded = false, false
        for i = 1, n do
          local k = decode(ARGV[i + 1], KEYS[i + 1], v[i + 1])
          keys[i] = k
          if not excluded[k.id] then
            anyIncluded = true
            k.included = true
            if window(k) then out[#out + 1] = k.id; out[#out + 1] = encode(k) end
            k.room = (rpm == 0 or k.R + 1 <= rpm) and (tpm == 0 or k.T + est <= tpm)
              and (rpd == 0 or k.dr + 1 <= rpd) and (tpd == 0 or k.dt + est <= tpd)
            if k.room then anyRoom = true end
            k.cooling = k.cu > now
            if k.room and not k.cooling then
              if rpd > 0 then k.usage = k.dr * 100 / rpd
              elseif tpd > 0 then k.usage = k.dt * 100 / tpd
              else k.usage = k.dr end
              if bestUsage == nil or k.usage < bestUsage then best, bestUsage = i, k.usage end
            end
          end
        end

        if best == nil then
          if #out > 0 then redis.call('HSET', W, unpack(out)) end
          if not anyIncluded then return {0, 0, 'exhausted'} end
          -- When does the earliest key free up? A key is free when all its blocking limits are.
          local nextDay = ((day + 1) * 86400 - off) * 1000
          local retry = nil
          for i = 1, n do
            local k = keys[i]
            if k.included then
              local freeAt = now
              if k.cooling then freeAt = math.max(freeAt, k.cu) end
              if (rpd > 0 and k.dr + 1 > rpd) or (tpd > 0 and k.dt + est > tpd) then
                freeAt = math.max(freeAt, nextDay)
              end
              local needR = (rpm > 0 and k.R + 1 > rpm)
              local needT = (tpm > 0 and k.T + est > tpm)
              if needR or needT then
                local freedR, freedT, at = 0, 0, nil
                if k.b > 0 then
                  for s = math.max(k.b, lo), sec do
                    local c = redis.call('HMGET', k.h, 'r' .. s, 't' .. s)
                    if c[1] then
                      freedR = freedR + tonumber(c[1])
                      freedT = freedT + (tonumber(c[2]) or 0)
                      local okR = (not needR) or (k.R - freedR + 1 <= rpm)
                      local okT = (not needT) or (k.T - freedT + est <= tpm)
                      if okR and okT then at = (s + 60) * 1000 break end
                    end
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
        if cur then
          for i = 1, n do
            local k = keys[i]
            if k.id == cur then
              if k.usage ~= nil and k.usage <= bestUsage + gap then chosen = i end
              break
            end
          end
        end
        local k = keys[chosen]
        if k.id ~= cur then out[#out + 1] = 'cur'; out[#out + 1] = k.id end

        redis.call('HINCRBY', k.h, 'r' .. sec, 1)
        redis.call('HINCRBY', k.h, 't' .. sec, est)
        redis.call('EXPIRE', k.h, BUCKET_TTL)
        if k.b == 0 then k.b = sec end
        k.R, k.T = k.R + 1, k.T + est
        k.dr, k.dt = k.dr + 1, k.dt + est
        k.q = k.q + 1
        out[#out + 1] = k.id; out[#out + 1] = encode(k)
        redis.call('HSET', W, unpack(out))
        if k.newDay then redis.call('EXPIRE', W, STATE_TTL) end
        return {1, chosen, sec, day}
        """#)

    /// KEYS: provider hash, the key's bucket hash. ARGV: id, lease second, lease day, reserved
    /// tokens, actual tokens, release (1/0). Needs no clock: a bucket still stored is corrected
    /// together with its total (the totals are the sum of stored buckets, whether or not a bucket
    /// already left the window); a bucket already expired no longer counts and is left alone. The
    /// day totals are corrected only while the key still counts the lease's day.
    static let settle = RedisScript(#"""
        local STATE = '<ddddddddd'
        local W, h, id = KEYS[1], KEYS[2], ARGV[1]
        local packed = redis.call('HGET', W, id)
        if not packed then return 0 end
        local b, R, T, D, dr, dt, cu, q, tok = struct.unpack(STATE, packed)
        local release = ARGV[6] == '1'
        local reserved, actual = tonumber(ARGV[4]), tonumber(ARGV[5])
        local dT, dR = actual - reserved, 0
        if release then dT, dR = -reserved, -1 end
        if redis.call('HEXISTS', h, 'r' .. ARGV[2]) == 1 then
          redis.call('HINCRBY', h, 't' .. ARGV[2], dT)
          if release then redis.call('HINCRBY', h, 'r' .. ARGV[2], -1) end
          R, T = R + dR, T + dT
        end
        if D == tonumber(ARGV[3]) then dr, dt = dr + dR, dt + dT end
        q = q + dR
        if not release then tok = tok + actual end
        redis.call('HSET', W, id, struct.pack(STATE, b, R, T, D, dr, dt, cu, q, tok))
        return 1
        """#)

    /// KEYS: provider hash, then one bucket hash per key. ARGV[1]: header + key count n;
    /// ARGV[2..n+1]: the ids. Returns {cur or '', then per key: R, T, dr, dt, requests, tokens,
    /// cooldown until, reason}; expires stale seconds on the way, like a reserve.
    static let snapshot = RedisScript(prelude + "\n" + #"""
        local _, _, _, _, n = struct.unpack('<ddddd', ARGV[1])
        local fields = {'cur'}
        for i = 1, n do
          fields[#fields + 1] = ARGV[i + 1]
          fields[#fields + 1] = ARGV[i + 1] .. ':cr'
        end
        local v = redis.call('HMGET', W, unpack(fields))
        local out, reply = {}, {v[1] or ''}
        for i = 1, n do
          local k = decode(ARGV[i + 1], KEYS[i + 1], v[2 * i])
          if window(k) then out[#out + 1] = k.id; out[#out + 1] = encode(k) end
          local untilms, reason = 0, ''
          if k.cu > now then untilms, reason = k.cu, v[2 * i + 1] or '' end
          local r = #reply
          reply[r + 1] = k.R; reply[r + 2] = k.T; reply[r + 3] = k.dr; reply[r + 4] = k.dt
          reply[r + 5] = k.q; reply[r + 6] = k.tok; reply[r + 7] = untilms; reply[r + 8] = reason
        end
        if #out > 0 then redis.call('HSET', W, unpack(out)) end
        return reply
        """#)

    /// KEYS: provider hash. ARGV: id, until ms, reason. Extends a cooldown, never shortens it, so
    /// a short 5xx penalty from one replica cannot cut a 429's Retry-After from another.
    static let cooldown = RedisScript(#"""
        local STATE = '<ddddddddd'
        local id, untilms = ARGV[1], tonumber(ARGV[2])
        local packed = redis.call('HGET', KEYS[1], id)
        local b, R, T, D, dr, dt, cu, q, tok = 0, 0, 0, 0, 0, 0, 0, 0, 0
        if packed then b, R, T, D, dr, dt, cu, q, tok = struct.unpack(STATE, packed) end
        if cu >= untilms then return 0 end
        redis.call('HSET', KEYS[1], id, struct.pack(STATE, b, R, T, D, dr, dt, untilms, q, tok), id .. ':cr', ARGV[3])
        -- The provider hash must outlive the cooldown, however long a key is disabled for.
        local t = redis.call('TIME')
        local need = math.max(2592000, math.ceil(untilms / 1000 - tonumber(t[1])) + 60)
        if redis.call('TTL', KEYS[1]) < need then redis.call('EXPIRE', KEYS[1], need) end
        return 1
        """#)
}
