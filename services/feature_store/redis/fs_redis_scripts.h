/*
 * fs_redis_scripts.h - the Lua scripts of the Redis back end. A script runs
 * atomically in Redis, so a batch of rows is applied as one unit with the
 * "latest event time wins" check made next to the data (no read-modify-write
 * race between shims), and with appendfsync always its effects are on disk
 * before Redis answers.
 *
 * Keys: fs:views            sorted set (score 0) of view names
 *       fs:view:<view>      hash: the definition (see fs_redis.c)
 *       fs:ents:<view>      sorted set (score 0) of the view's entity keys
 *       fs:row:<view>:<key> hash: "v:<feature>" typed value, "t:<feature>" "<sec> <nanos>"
 */
#ifndef FS_REDIS_SCRIPTS_H
#define FS_REDIS_SCRIPTS_H

/* KEYS: fs:views, fs:view:<v>. ARGV: view name, then field/value pairs of the definition.
 * Returns 1, or 0 when the view exists. */
#define FS_LUA_CREATE                                                     \
  "if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end\n"            \
  "for i = 2, #ARGV, 200 do\n"                                           \
  "  redis.call('HSET', KEYS[2], unpack(ARGV, i, math.min(i + 199, #ARGV)))\n" \
  "end\n"                                                                \
  "redis.call('ZADD', KEYS[1], 0, ARGV[1])\n"                            \
  "return 1\n"

/* KEYS: fs:views, fs:view:<v>, fs:ents:<v>. ARGV: view name, row key prefix "fs:row:<v>:".
 * Returns 1, or 0 when there is no such view. */
#define FS_LUA_DELETE                                                     \
  "if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end\n"            \
  "local ents = redis.call('ZRANGE', KEYS[3], 0, -1)\n"                  \
  "for _, e in ipairs(ents) do redis.call('UNLINK', ARGV[2] .. e) end\n" \
  "redis.call('UNLINK', KEYS[2], KEYS[3])\n"                             \
  "redis.call('ZREM', KEYS[1], ARGV[1])\n"                               \
  "return 1\n"

/* KEYS: fs:view:<v>, fs:ents:<v>, then fs:row:<v>:<key> of each row.
 * ARGV: the view's "created" as the writer read it ("<sec> <nanos>"), then
 * per row: key, sec, nanos, n, then n (feature, encoded value) pairs.
 * A stored value is replaced unless its event time is later. Error NOVIEW
 * when the view is gone, VIEWCHANGED when it was re-created since the writer
 * read it (nothing is written then). Returns the number of rows. */
#define FS_LUA_WRITE                                                                   \
  "local created = redis.call('HGET', KEYS[1], 'created')\n"                         \
  "if not created then return redis.error_reply('NOVIEW') end\n"                      \
  "if created ~= ARGV[1] then return redis.error_reply('VIEWCHANGED') end\n"          \
  "local a = 2\n"                                                                      \
  "for r = 3, #KEYS do\n"                                                              \
  "  local ent, sec, ns, n = ARGV[a], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])\n" \
  "  local ts = ARGV[a + 1] .. ' ' .. ARGV[a + 2]\n"                                 \
  "  a = a + 4\n"                                                                      \
  "  for i = 1, n do\n"                                                                \
  "    local f, v = ARGV[a], ARGV[a + 1]\n"                                            \
  "    a = a + 2\n"                                                                    \
  "    local old = redis.call('HGET', KEYS[r], 't:' .. f)\n"                          \
  "    local keep = false\n"                                                           \
  "    if old then\n"                                                                  \
  "      local os, on = string.match(old, '^(%-?%d+) (%d+)$')\n"                      \
  "      os, on = tonumber(os), tonumber(on)\n"                                        \
  "      keep = os > sec or (os == sec and on > ns)\n"                                 \
  "    end\n"                                                                          \
  "    if not keep then redis.call('HSET', KEYS[r], 'v:' .. f, v, 't:' .. f, ts) end\n" \
  "  end\n"                                                                            \
  "  redis.call('ZADD', KEYS[2], 0, ent)\n"                                           \
  "end\n"                                                                              \
  "return #KEYS - 2\n"

#endif /* FS_REDIS_SCRIPTS_H */
