/// The Lua scripts of `RedisUsageStore`: one EVALSHA reserves, one settles or releases, each for
/// a batch of one or more requests of one provider (see `CallBatcher`).
///
/// Layout (every key of a provider carries the hash tag `{provider}`, so each script touches one
/// slot and runs unchanged on Redis Cluster; every key a script touches is passed in KEYS):
/// - `gw:{p}:w`        hash, the provider's hot state, read by reserve with ONE HMGET whatever the
///                     key count: `cur` (the usage-gap rule's current key id), `brk` (when the
///                     provider's circuit breaker closes, ms; absent or past = closed), and per key
///                     id one field holding its state packed as eleven little-endian doubles
///                     (see `STATE` and `FULL`; states written before the tenth and eleventh
///                     existed have nine or ten and read the missing ones as 0) plus `<id>:cr`,
///                     the reason of its cooldown.
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
        -- time of the key's last breaker-counted failure (0 = none since its last success), and
        -- pend, the tokens reserved by leases not yet settled or released (a hint for refusals:
        -- a token window full of estimates frees as they settle, not when they leave the window).
        local STATE = '<ddddddddd'
        local FULL = '<ddddddddddd'
        -- How soon a window full of unsettled reservations is expected to have room (ms).
        local SETTLE_HINT = 1000
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

        -- f and pend of a packed state (0 when it predates them).
        local function tail(p)
          if #p >= 88 then return struct.unpack('<dd', p, 73) end
          if #p >= 80 then return struct.unpack('<d', p, 73), 0 end
          return 0, 0
        end

        -- A key's state from its packed field (absent: all zero).
        local function decode(id, h, packed)
          local k = {id = id, h = h, b = 0, R = 0, T = 0, D = 0, dr = 0, dt = 0, cu = 0, q = 0, tok = 0, f = 0, pend = 0}
          if packed then
            k.b, k.R, k.T, k.D, k.dr, k.dt, k.cu, k.q, k.tok = struct.unpack(STATE, packed)
            k.f, k.pend = tail(packed)
          end
          -- A new day starts from zero. Days never go back: a key already counting a later day
          -- (stamped by a replica whose daily_reset_timezone lies further east, during a rolling
          -- config change) keeps it, so replicas whose zones differ never reset each other's counts.
          if k.D < day then k.D, k.dr, k.dt = day, 0, 0 end
          return k
        end

        local function encode(k)
          return struct.pack(FULL, k.b, k.R, k.T, k.D, k.dr, k.dt, k.cu, k.q, k.tok, k.f, k.pend)
        end

        -- Expires the seconds of bucket hash h (oldest stored second b, window totals r and t)
        -- that left the window. Returns whether anything changed, then the new b, r and t.
        local function expire(h, b, r, t)
          if b == 0 or b >= lo then return false, b, r, t end
          if lo - b >= 60 then
            redis.call('DEL', h)
            return true, 0, 0, 0
          end
          for s = b, lo - 1 do
            local c = redis.call('HGET', h, s)
            if c then
              local cr, ct = split(tonumber(c))
              r, t = r - cr, t - ct
              redis.call('HDEL', h, s)
            end
          end
          redis.call('EXPIRE', h, BUCKET_TTL)
          return true, lo, r, t
        end

        -- Expires the seconds of key k that left the window; true when k changed. A window left
        -- without requests has no lease in flight younger than a minute: its pending tokens are
        -- dropped, so a lease lost with its replica does not skew refusals forever.
        local function window(k)
          local changed
          changed, k.b, k.R, k.T = expire(k.h, k.b, k.R, k.T)
          if changed and k.R == 0 then k.pend = 0 end
          return changed
        end
        """#

    /// Reserves for a batch of m requests of one pool, one after another, exactly as m calls in
    /// a row would (see `CallBatcher`).
    /// KEYS: provider hash, then one bucket hash per key. ARGV[1]: header + gap, rpm, tpm, rpd,
    /// tpd (0 = unlimited; one set for the entry's keys), key count n, request count m, deadline
    /// (Redis time in ms, 0 = none), then per request its estimated tokens and how many key ids it
    /// excludes; ARGV[2..n+1]: the key ids; ARGV[n+2..n+m+1]: each request's bucket increment
    /// (tokens * 2^20 + 1) as text; then the excluded ids (already tried), request by request.
    /// Returns {second, day, now ms, then per request: the chosen key's index (1-based), or
    /// {index, day} when the key counts a later day than this replica's, or {retry-after ms,
    /// reason} when refused}; only {second, day, now ms} when it ran past its deadline.
    static let reserve = RedisScript(prelude + "\n" + #"""
        local _, _, _, _, gap, rpm, tpm, rpd, tpd, n, m, deadline = struct.unpack('<dddddddddddd', ARGV[1])
        local reply = {sec, day, now}
        -- Redis was busy past the client's timeout (a slow command ran first): the caller gave up
        -- on this batch and served or refused its requests otherwise, so reserving now would
        -- leave counts that no settle or release takes back.
        if deadline > 0 and now > deadline then return reply end
        local v = redis.call('HMGET', W, 'cur', 'brk', unpack(ARGV, 2, n + 1))
        -- An open circuit breaker refuses before any key is looked at.
        local brk = tonumber(v[2] or '0')
        if brk > now then
          for j = 1, m do reply[j + 3] = {brk - now, 'circuit_open'} end
          return reply
        end

        -- Keys this script changed (expired seconds, or reserved on) live in `mod` as
        -- {b, R, T, dr, dt, cu, q, D, tokens reserved here, pending dropped}; the others are read
        -- from their packed state each time, which costs less than copying every key into tables
        -- first (Redis's Lua pays for each table).
        local mod, granted = {}, {}
        local function state(i)
          local k = mod[i]
          if k then return k[1], k[2], k[3], k[4], k[5], k[6], k[7], k[8] end
          local p = v[i + 2]
          if not p then return 0, 0, 0, 0, 0, 0, 0, day end
          local b, r, t, d, dr, dt, cu, q = struct.unpack(STATE, p)
          -- A new day starts from zero; a later day is kept (see `decode`).
          if d < day then d, dr, dt = day, 0, 0 end
          if b > 0 and b < lo then
            local _
            _, b, r, t = expire(KEYS[i + 1], b, r, t)
            mod[i] = {b, r, t, dr, dt, cu, q, d, 0, r == 0}
          end
          return b, r, t, dr, dt, cu, q, d
        end
        -- Tokens of key i reserved by leases not yet settled (see `window` for when they drop):
        -- the stored total (`stored`, when the caller has unpacked it already), dropped if this
        -- script emptied the key's window, plus what this script reserved on it.
        local function pending(i, stored)
          local k = mod[i]
          if stored == nil then
            stored = 0
            local p = v[i + 2]
            if p then
              local _
              _, stored = tail(p)
            end
          end
          if not k then return stored end
          if k[10] then stored = 0 end
          return stored + k[9]
        end
        local curIdx = nil
        for i = 1, n do
          if ARGV[i + 1] == v[1] then curIdx = i break end
        end

        local curChanged = false
        -- A refusal changes nothing, so under overload the refusals of one batch repeat one
        -- answer: it is kept for the next request with the same estimate and no exclusions,
        -- until a grant changes the state.
        local refusedEst, refusal = nil, nil
        local xi = n + m + 2
        for j = 1, m do
          local est, nx = struct.unpack('<dd', ARGV[1], 97 + (j - 1) * 16)
          local excluded = nil
          if nx > 0 then
            excluded = {}
            for x = xi, xi + nx - 1 do excluded[ARGV[x]] = true end
            xi = xi + nx
          end
          local best, bestUsage, curUsage = nil, nil, nil
          local anyRoom, anyIncluded = false, false
          for i = 1, n do
            if not (excluded and excluded[ARGV[i + 1]]) then
              anyIncluded = true
              local _, r, t, dr, dt, cu = state(i)
              if (rpm == 0 or r + 1 <= rpm) and (tpm == 0 or t + est <= tpm)
                and (rpd == 0 or dr + 1 <= rpd) and (tpd == 0 or dt + est <= tpd) then
                anyRoom = true
                if cu <= now then
                  local usage = dr
                  if rpd > 0 then usage = dr * 100 / rpd elseif tpd > 0 then usage = dt * 100 / tpd end
                  if bestUsage == nil or usage < bestUsage then best, bestUsage = i, usage end
                  if i == curIdx then curUsage = usage end
                end
              end
            end
          end

          if best ~= nil then
            -- The usage-gap rule: keep the current key while it is within gap points of the best.
            local chosen = best
            if curUsage ~= nil and curUsage <= bestUsage + gap then chosen = curIdx end
            if chosen ~= curIdx then curIdx, curChanged = chosen, true end
            local h = KEYS[chosen + 1]
            local b, r, t, dr, dt, cu, q, d = state(chosen)
            redis.call('HINCRBY', h, sec, ARGV[n + 1 + j])
            -- A new bucket hash gets its TTL here; later expiry passes (once a second while it
            -- holds traffic) refresh it, so it only lapses two minutes after the traffic stops.
            if b == 0 then
              b = sec
              redis.call('EXPIRE', h, BUCKET_TTL)
            end
            local k = mod[chosen]
            mod[chosen] = {b, r + 1, t + est, dr + 1, dt + est, cu, q + 1, d, (k and k[9] or 0) + est, k and k[10]}
            granted[chosen] = true
            refusal = nil
            if d == day then reply[j + 3] = chosen else reply[j + 3] = {chosen, d} end
          elseif not anyIncluded then
            reply[j + 3] = {0, 'exhausted'}
          elseif refusal and nx == 0 and est == refusedEst then
            reply[j + 3] = refusal
          else
            -- The rare path: when does the earliest key free up? A key is free when all its
            -- blocking limits are (window, day and cooldown).
            local retry = nil
            -- The included keys, and the cooldown-reason fields of those cooling down.
            local included, coolingReasons = 0, {}
            for i = 1, n do
              if not (excluded and excluded[ARGV[i + 1]]) then
                included = included + 1
                local b, r, t, dr, dt, cu, _, d = state(i)
                -- The key's day counts end when this replica's date passes the day the key
                -- counts, which a replica in a zone further east may have moved past ours.
                local nextDay = ((d + 1) * 86400 - off) * 1000
                -- Tokens held by reservations still in flight free as they settle (to the real
                -- usage, usually far below the estimate): a token limit that only they fill
                -- frees in about SETTLE_HINT, not when their seconds leave the window.
                local pend = pending(i)
                local freeAt = now
                if cu > now then
                  freeAt = math.max(freeAt, cu)
                  coolingReasons[#coolingReasons + 1] = ARGV[i + 1] .. ':cr'
                end
                if (rpd > 0 and dr + 1 > rpd) or (tpd > 0 and dt - math.min(pend, dt) + est > tpd) then
                  freeAt = math.max(freeAt, nextDay)
                elseif tpd > 0 and dt + est > tpd then
                  freeAt = math.max(freeAt, now + SETTLE_HINT)
                end
                local needR = (rpm > 0 and r + 1 > rpm)
                local needT = (tpm > 0 and t - math.min(pend, t) + est > tpm)
                if not (needR or needT) and tpm > 0 and t + est > tpm then
                  freeAt = math.max(freeAt, now + SETTLE_HINT)
                end
                if needR or needT then
                  local freedR, freedT, at = 0, 0, nil
                  if b > 0 then
                    for s = math.max(b, lo), sec do
                      local c = redis.call('HGET', KEYS[i + 1], s)
                      if c then
                        local cr, ct = split(tonumber(c))
                        freedR, freedT = freedR + cr, freedT + ct
                        local okR = (not needR) or (r - freedR + 1 <= rpm)
                        local okT = (not needT) or (t - freedT + est <= tpm)
                        if okR and okT then at = (s + 60) * 1000 break end
                      end
                    end
                  end
                  freeAt = math.max(freeAt, at or ((sec + 60) * 1000))
                end
                if retry == nil or freeAt < retry then retry = freeAt end
              end
            end
            local why = anyRoom and 'cooling_down' or 'window_full'
            -- Every key held back after failing upstream (errors, timeouts, rejected keys) and
            -- none for a rate limit: the provider's trouble, not a limit (see RefusalReason).
            if #coolingReasons == included then
              local reasons, failing = redis.call('HMGET', W, unpack(coolingReasons)), true
              for x = 1, included do
                if type(reasons[x]) ~= 'string' or reasons[x] == 'rate_limited' then failing = false break end
              end
              if failing then why = 'keys_failing' end
            end
            -- Relative to Redis's clock, so replica clocks never enter the answer.
            reply[j + 3] = {retry - now, why}
            if nx == 0 then refusedEst, refusal = est, reply[j + 3] end
          end
        end

        local out, newDay = {}, false
        for i, k in pairs(mod) do
          -- The fields a reserve leaves alone come from the stored state.
          local tok, f, pend, p = 0, 0, 0, v[i + 2]
          if p then
            tok = struct.unpack('<d', p, 65)
            f, pend = tail(p)
          end
          -- A key's first request of a day refreshes the provider hash's TTL.
          if granted[i] and (not p or struct.unpack('<d', p, 25) < k[8]) then newDay = true end
          out[#out + 1] = ARGV[i + 1]
          out[#out + 1] = struct.pack(FULL, k[1], k[2], k[3], k[8], k[4], k[5], k[6], k[7], tok, f, pending(i, pend))
        end
        if curChanged then out[#out + 1] = 'cur'; out[#out + 1] = ARGV[curIdx + 1] end
        if #out > 0 then redis.call('HSET', W, unpack(out)) end
        if newDay then redis.call('EXPIRE', W, STATE_TTL) end
        return reply
        """#)

    /// Settles or releases a batch of m leases of one provider, one after another.
    /// KEYS: provider hash, then the bucket hash of each of the u distinct keys in the batch.
    /// ARGV[1]: m, u, then per lease its key's index (1..u), lease day, reserved tokens, actual
    /// tokens, release (1/0), as packed doubles; ARGV[2..u+1]: the distinct key ids; then per
    /// lease its second and its bucket delta (tokens * 2^20 + requests), as text.
    /// A settle (not a release) clears the key's failure mark. Needs no clock: a bucket still
    /// stored is corrected together with its total (the totals are the sum of stored buckets,
    /// whether or not a bucket already left the window); a bucket already expired no longer
    /// counts and is left alone. The day totals are corrected only while the key still counts
    /// the lease's day. Every lease leaves the key's pending tokens (never below zero).
    static let settle = RedisScript(#"""
        local W = KEYS[1]
        local m, u = struct.unpack('<dd', ARGV[1])
        local v = redis.call('HMGET', W, unpack(ARGV, 2, u + 1))
        -- Each key's state as an array {b, R, T, D, dr, dt, cu, q, tok, f, pend}, made by one
        -- constructor (struct.unpack's ninth result is followed by the next position, which
        -- the tenth slot then takes as f).
        local S = {}
        for j = 1, m do
          local ki, lday, reserved, actual, release = struct.unpack('<ddddd', ARGV[1], 17 + (j - 1) * 40)
          local p = v[ki]
          -- A key with no state (expired, or never used) has nothing to correct.
          if p then
            local k = S[ki]
            if not k then
              k = {struct.unpack('<ddddddddd', p)}
              k[10], k[11] = 0, 0
              if #p >= 88 then k[10], k[11] = struct.unpack('<dd', p, 73)
              elseif #p >= 80 then k[10] = struct.unpack('<d', p, 73) end
              S[ki] = k
            end
            local dT, dR = actual - reserved, 0
            if release == 1 then dT, dR = -reserved, -1 end
            local h, second = KEYS[ki + 1], ARGV[u + 2 * j]
            if redis.call('HEXISTS', h, second) == 1 then
              redis.call('HINCRBY', h, second, ARGV[u + 2 * j + 1])
              k[2], k[3] = k[2] + dR, k[3] + dT
            end
            -- Never below zero: a settle kept through an outage may reach a Redis that lost its
            -- data meanwhile (no persistence), whose fresh counts never held this reservation.
            if k[4] == lday then k[5], k[6] = math.max(0, k[5] + dR), math.max(0, k[6] + dT) end
            k[8] = math.max(0, k[8] + dR)
            k[11] = math.max(0, k[11] - reserved)
            -- An answer clears the key's failure mark: the provider is not failing on this key.
            if release == 0 then k[9], k[10] = k[9] + actual, 0 end
          end
        end
        local out = {}
        for ki, k in pairs(S) do
          out[#out + 1] = ARGV[ki + 1]
          out[#out + 1] = struct.pack('<ddddddddddd', unpack(k, 1, 11))
        end
        if #out > 0 then redis.call('HSET', W, unpack(out)) end
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
        local b, R, T, D, dr, dt, cu, q, tok, f, pend = 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
        if packed then
          b, R, T, D, dr, dt, cu, q, tok = struct.unpack(STATE, packed)
          f, pend = tail(packed)
          pend = math.max(0, pend - reserved)
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
        redis.call('HSET', W, id, struct.pack(FULL, b, R, T, D, dr, dt, cu, q, tok, f, pend), unpack(fields))
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
