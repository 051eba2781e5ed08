/// The Lua scripts of `RedisUsageStore`: one EVALSHA reserves, one settles or releases.
///
/// Layout (every key of a provider carries the hash tag `{provider}`, so each script touches one
/// slot and runs unchanged on Redis Cluster; every key a script touches is passed in KEYS):
/// - `gw:{p}:w`        hash, the provider's hot state, read by reserve with ONE HMGET whatever the
///                     key count: `cur` (the usage-gap rule's current key id), `brk` (when the
///                     provider's circuit breaker closes, ms; absent or past = closed), and per key
///                     id one field holding its state packed as ten little-endian doubles (see
///                     `STATE`; states written before the tenth existed have nine and read it as
///                     0) plus `<id>:cr`, the reason of its cooldown.
/// - `gw:{p}:k:<id>`   hash per key: the minute window's buckets, one field per second holding
///                     tokens * 2^20 + requests. Only touched to record a reservation, to settle
///                     it and to expire old seconds.
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
        -- b, R, T, D, dr, dt, cu, q, tok: the hot path unpacks these nine only. FULL adds f, the
        -- time of the key's last breaker-counted failure (0 = none since its last success).
        local STATE = '<ddddddddd'
        local FULL = '<dddddddddd'
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

        -- A bucket holds tokens * 2^20 + requests in one integer, so recording a reservation is
        -- one HINCRBY (the increment comes ready-made from Swift, as text).
        local function split(c)
          local r = c % 1048576
          return r, (c - r) / 1048576
        end

        -- A key's state from its packed field (absent: all zero).
        local function decode(id, h, packed)
          local k = {id = id, h = h, b = 0, R = 0, T = 0, D = 0, dr = 0, dt = 0, cu = 0, q = 0, tok = 0, f = 0}
          if packed then
            k.b, k.R, k.T, k.D, k.dr, k.dt, k.cu, k.q, k.tok = struct.unpack(STATE, packed)
            if #packed >= 80 then k.f = struct.unpack('<d', packed, 73) end
          end
          -- A new day starts from zero; the first request of it refreshes the hash's TTL.
          if k.D ~= day then k.D, k.dr, k.dt, k.newDay = day, 0, 0, true end
          return k
        end

        local function encode(k)
          return struct.pack(FULL, k.b, k.R, k.T, k.D, k.dr, k.dt, k.cu, k.q, k.tok, k.f)
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
            local c = redis.call('HGET', k.h, s)
            if c then
              local r, t = split(tonumber(c))
              k.R, k.T = k.R - r, k.T - t
              redis.call('HDEL', k.h, s)
            end
          end
          k.b = lo
          redis.call('EXPIRE', k.h, BUCKET_TTL)
          return true
        end
        """#

    /// KEYS: provider hash, then one bucket hash per key. ARGV[1]: header + gap, estimated
    /// tokens, rpm, tpm, rpd, tpd (0 = unlimited; one set for the entry's keys), key count n;
    /// ARGV[2]: the bucket increment (tokens * 2^20 + 1) as text; ARGV[3..n+2]: the key ids;
    /// then the ids the caller excludes (already tried).
    /// Returns {1, key index (1-based), second, day} or {0, retry-after ms, reason}.
    static let reserve = RedisScript(prelude + "\n" + #"""
        local _, _, _, _, gap, est, rpm, tpm, rpd, tpd, n = struct.unpack('<ddddddddddd', ARGV[1])
        local v = redis.call('HMGET', W, 'cur', 'brk', unpack(ARGV, 3, n + 2))
        local cur = v[1]
        -- An open circuit breaker refuses before any key is looked at.
        local brk = tonumber(v[2] or '0')
        if brk > now then return {0, brk - now, 'circuit_open'} end
        local excluded = {}
        for i = n + 3, #ARGV do excluded[ARGV[i]] = true end
        local out = {}

        -- The common path touches each key's packed state once and builds no table for it; a
        -- key is decoded into a table only to expire stale seconds (once a second at most).
        local best, bestUsage, curUsage = nil, nil, nil
        local anyRoom, anyIncluded = false, false
        for i = 1, n do
          local id = ARGV[i + 2]
          if not excluded[id] then
            anyIncluded = true
            local b, R, T, D, dr, dt, cu = 0, 0, 0, day, 0, 0, 0
            if v[i + 2] then b, R, T, D, dr, dt, cu = struct.unpack(STATE, v[i + 2]) end
            if D ~= day then dr, dt = 0, 0 end
            if b > 0 and b < lo then
              local k = decode(id, KEYS[i + 1], v[i + 2])
              window(k)
              R, T = k.R, k.T
              out[#out + 1] = id; out[#out + 1] = encode(k)
            end
            if (rpm == 0 or R + 1 <= rpm) and (tpm == 0 or T + est <= tpm)
              and (rpd == 0 or dr + 1 <= rpd) and (tpd == 0 or dt + est <= tpd) then
              anyRoom = true
              if cu <= now then
                local usage = dr
                if rpd > 0 then usage = dr * 100 / rpd elseif tpd > 0 then usage = dt * 100 / tpd end
                if bestUsage == nil or usage < bestUsage then best, bestUsage = i, usage end
                if id == cur then curUsage = usage end
              end
            end
          end
        end

        if best == nil then
          if #out > 0 then redis.call('HSET', W, unpack(out)) end
          if not anyIncluded then return {0, 0, 'exhausted'} end
          -- The rare path: when does the earliest key free up? A key is free when all its
          -- blocking limits are (window, day and cooldown).
          local nextDay = ((day + 1) * 86400 - off) * 1000
          local retry = nil
          for i = 1, n do
            local k = decode(ARGV[i + 2], KEYS[i + 1], v[i + 2])
            if not excluded[k.id] then
              window(k)
              local freeAt = now
              if k.cu > now then freeAt = math.max(freeAt, k.cu) end
              if (rpd > 0 and k.dr + 1 > rpd) or (tpd > 0 and k.dt + est > tpd) then
                freeAt = math.max(freeAt, nextDay)
              end
              local needR = (rpm > 0 and k.R + 1 > rpm)
              local needT = (tpm > 0 and k.T + est > tpm)
              if needR or needT then
                local freedR, freedT, at = 0, 0, nil
                if k.b > 0 then
                  for s = math.max(k.b, lo), sec do
                    local c = redis.call('HGET', k.h, s)
                    if c then
                      local r, t = split(tonumber(c))
                      freedR, freedT = freedR + r, freedT + t
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

        -- The usage-gap rule: keep the current key while it is within gap points of the best.
        local chosen = best
        if curUsage ~= nil and curUsage <= bestUsage + gap then
          for i = 1, n do
            if ARGV[i + 2] == cur then chosen = i break end
          end
        end
        local id, h = ARGV[chosen + 2], KEYS[chosen + 1]
        if id ~= cur then out[#out + 1] = 'cur'; out[#out + 1] = id end
        -- Re-read the chosen key from `out` if it was just expired, else from the HMGET.
        local packed = v[chosen + 2]
        for j = 1, #out - 1, 2 do if out[j] == id then packed = out[j + 1] end end
        local k = decode(id, h, packed)

        redis.call('HINCRBY', h, sec, ARGV[2])
        -- A new bucket hash gets its TTL here; later expiry passes (once a second while it
        -- holds traffic) refresh it, so it only lapses two minutes after the traffic stops.
        if k.b == 0 then
          k.b = sec
          redis.call('EXPIRE', h, BUCKET_TTL)
        end
        k.R, k.T = k.R + 1, k.T + est
        k.dr, k.dt = k.dr + 1, k.dt + est
        k.q = k.q + 1
        out[#out + 1] = id; out[#out + 1] = encode(k)
        redis.call('HSET', W, unpack(out))
        if k.newDay then redis.call('EXPIRE', W, STATE_TTL) end
        return {1, chosen, sec, day}
        """#)

    /// KEYS: provider hash, the key's bucket hash. ARGV: id, lease second, lease day, reserved
    /// tokens, actual tokens, release (1/0), bucket delta (tokens * 2^20 + requests, as text). A
    /// settle (not a release) clears the key's failure mark. Needs no clock: a bucket still stored is corrected
    /// together with its total (the totals are the sum of stored buckets, whether or not a bucket
    /// already left the window); a bucket already expired no longer counts and is left alone. The
    /// day totals are corrected only while the key still counts the lease's day.
    static let settle = RedisScript(#"""
        local W, h, id = KEYS[1], KEYS[2], ARGV[1]
        local packed = redis.call('HGET', W, id)
        if not packed then return 0 end
        local b, R, T, D, dr, dt, cu, q, tok = struct.unpack('<ddddddddd', packed)
        local f = 0
        if #packed >= 80 then f = struct.unpack('<d', packed, 73) end
        local release = ARGV[6] == '1'
        local reserved, actual = tonumber(ARGV[4]), tonumber(ARGV[5])
        local dT, dR = actual - reserved, 0
        if release then dT, dR = -reserved, -1 end
        if redis.call('HEXISTS', h, ARGV[2]) == 1 then
          redis.call('HINCRBY', h, ARGV[2], ARGV[7])
          R, T = R + dR, T + dT
        end
        if D == tonumber(ARGV[3]) then dr, dt = dr + dR, dt + dT end
        q = q + dR
        -- An answer clears the key's failure mark: the provider is not failing on this key.
        if not release then tok, f = tok + actual, 0 end
        redis.call('HSET', W, id, struct.pack('<dddddddddd', b, R, T, D, dr, dt, cu, q, tok, f))
        return 1
        """#)

    /// KEYS: provider hash, then one bucket hash per key. ARGV[1]: header + key count n;
    /// ARGV[2..n+1]: the ids. Returns {cur or '', breaker open until (0 = closed), then per key:
    /// R, T, dr, dt, requests, tokens, cooldown until, reason}; expires stale seconds on the way, like a reserve.
    static let snapshot = RedisScript(prelude + "\n" + #"""
        local _, _, _, _, n = struct.unpack('<ddddd', ARGV[1])
        local fields = {'cur', 'brk'}
        for i = 1, n do
          fields[#fields + 1] = ARGV[i + 1]
          fields[#fields + 1] = ARGV[i + 1] .. ':cr'
        end
        local v = redis.call('HMGET', W, unpack(fields))
        local brk = tonumber(v[2] or '0')
        if brk <= now then brk = 0 end
        local out, reply = {}, {v[1] or '', brk}
        for i = 1, n do
          local k = decode(ARGV[i + 1], KEYS[i + 1], v[2 * i + 1])
          if window(k) then out[#out + 1] = k.id; out[#out + 1] = encode(k) end
          local untilms, reason = 0, ''
          if k.cu > now then untilms, reason = k.cu, v[2 * i + 2] or '' end
          local r = #reply
          reply[r + 1] = k.R; reply[r + 2] = k.T; reply[r + 3] = k.dr; reply[r + 4] = k.dt
          reply[r + 5] = k.q; reply[r + 6] = k.tok; reply[r + 7] = untilms; reply[r + 8] = reason
        end
        if #out > 0 then redis.call('HSET', W, unpack(out)) end
        return reply
        """#)

    /// KEYS: provider hash, the lease key's bucket hash. ARGV[1]: header + lease second, lease day,
    /// reserved tokens, cooldown ms, breaker window ms (0 = the failure does not count toward the
    /// breaker), breaker open ms, key count n; ARGV[2]: the lease's key id; ARGV[3]: the bucket
    /// delta of a release (as text); ARGV[4]: the cooldown reason; ARGV[5..n+4]: the pool's ids.
    /// Refunds the lease as a release does, extends (never shortens) the key's cooldown, and for
    /// breaker-counted failures marks the key failing and opens the breaker when every key of the
    /// pool is failing or cooling down. Returns 1 when this call opened the breaker, else 0.
    static let fail = RedisScript(prelude + "\n" + #"""
        local _, _, _, _, lsec, lday, reserved, cool, bwin, bopen, n = struct.unpack('<ddddddddddd', ARGV[1])
        local id, h = ARGV[2], KEYS[2]
        local packed = redis.call('HGET', W, id)
        local b, R, T, D, dr, dt, cu, q, tok, f = 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
        if packed then
          b, R, T, D, dr, dt, cu, q, tok = struct.unpack(STATE, packed)
          if #packed >= 80 then f = struct.unpack('<d', packed, 73) end
          -- The refund, exactly as the settle script releases.
          if redis.call('HEXISTS', h, lsec) == 1 then
            redis.call('HINCRBY', h, lsec, ARGV[3])
            R, T = R - 1, T - reserved
          end
          if D == lday then dr, dt = dr - 1, dt - reserved end
          q = q - 1
        end
        local fields = {}
        local untilms = now + cool
        if untilms > cu then
          cu = untilms
          fields[#fields + 1] = id .. ':cr'; fields[#fields + 1] = ARGV[4]
        end
        if bwin > 0 then f = now end
        redis.call('HSET', W, id, struct.pack(FULL, b, R, T, D, dr, dt, cu, q, tok, f), unpack(fields))
        -- The provider hash must outlive the cooldown, however long a key is disabled for.
        local need = math.max(STATE_TTL, math.ceil((cu - now) / 1000) + 60)
        if redis.call('TTL', W) < need then redis.call('EXPIRE', W, need) end
        if bwin == 0 then return 0 end

        -- The breaker: is every key of the pool failing (a recent counted failure, no success
        -- since) or cooling down?
        local v = redis.call('HMGET', W, 'brk', unpack(ARGV, 5, n + 4))
        for i = 1, n do
          if ARGV[i + 4] ~= id then
            local p = v[i + 1]
            if not p then return 0 end
            local _, _, _, _, _, _, kcu = struct.unpack(STATE, p)
            local kf = 0
            if #p >= 80 then kf = struct.unpack('<d', p, 73) end
            if not ((kf > 0 and kf >= now - bwin) or kcu > now) then return 0 end
          end
        end
        local brk = tonumber(v[1] or '0')
        if now + bopen > brk then redis.call('HSET', W, 'brk', now + bopen) end
        if brk > now then return 0 end
        return 1
        """#)
}
