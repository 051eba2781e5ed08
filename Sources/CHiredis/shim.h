#ifndef CHIREDIS_SHIM_H
#define CHIREDIS_SHIM_H

// Swift-callable accessors over libhiredis. Swift cannot call hiredis's variadic command
// functions, cannot read `redisContext.errstr` (a fixed C array) as a string, and should not
// depend on the layout of `redisReply`, which changed between hiredis 0.14 and 1.x. Everything
// the Redis client needs goes through these `static inline` helpers, prefixed `chiredis_`.

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <sys/time.h>

// Reply type codes, fixed by the RESP2 protocol and stable across hiredis versions.
enum {
    CHIREDIS_REPLY_STRING = REDIS_REPLY_STRING,
    CHIREDIS_REPLY_ARRAY = REDIS_REPLY_ARRAY,
    CHIREDIS_REPLY_INTEGER = REDIS_REPLY_INTEGER,
    CHIREDIS_REPLY_NIL = REDIS_REPLY_NIL,
    CHIREDIS_REPLY_STATUS = REDIS_REPLY_STATUS,
    CHIREDIS_REPLY_ERROR = REDIS_REPLY_ERROR,
};

static inline int chiredis_reply_type(const redisReply *r) { return r->type; }
static inline long long chiredis_reply_integer(const redisReply *r) { return r->integer; }
static inline const char *chiredis_reply_str(const redisReply *r) { return r->str; }
static inline size_t chiredis_reply_len(const redisReply *r) { return r->len; }
static inline size_t chiredis_reply_elements(const redisReply *r) { return r->elements; }
static inline const redisReply *chiredis_reply_element(const redisReply *r, size_t i) {
    return r->element[i];
}
static inline void chiredis_reply_free(redisReply *r) { freeReplyObject(r); }

static inline redisContext *chiredis_connect_tcp(const char *host, int port, long timeout_usec) {
    struct timeval tv = { timeout_usec / 1000000, timeout_usec % 1000000 };
    return redisConnectWithTimeout(host, port, tv);
}

static inline redisContext *chiredis_connect_unix(const char *path, long timeout_usec) {
    struct timeval tv = { timeout_usec / 1000000, timeout_usec % 1000000 };
    return redisConnectUnixWithTimeout(path, tv);
}

static inline int chiredis_set_timeout(redisContext *c, long timeout_usec) {
    struct timeval tv = { timeout_usec / 1000000, timeout_usec % 1000000 };
    return redisSetTimeout(c, tv);
}

static inline int chiredis_context_err(const redisContext *c) { return c->err; }
static inline const char *chiredis_context_errstr(const redisContext *c) { return c->errstr; }
static inline void chiredis_free(redisContext *c) { redisFree(c); }

/// Formats one command (binary-safe argv form) into a malloc'd RESP buffer.
/// Returns the length, or a negative value on allocation failure; free with chiredis_free_command.
static inline long long chiredis_format_argv(char **target, int argc, const char **argv, const size_t *argvlen) {
    return (long long)redisFormatCommandArgv(target, argc, argv, argvlen);
}
static inline void chiredis_free_command(char *cmd) { redisFreeCommand(cmd); }

/// Appends an already formatted command to the context's output buffer (hiredis copies it).
static inline int chiredis_append_formatted(redisContext *c, const char *cmd, size_t len) {
    return redisAppendFormattedCommand(c, cmd, len);
}

/// Flushes pending output if needed and blocks for the next reply. NULL on I/O or protocol error.
static inline redisReply *chiredis_get_reply(redisContext *c) {
    void *reply = NULL;
    if (redisGetReply(c, &reply) != REDIS_OK) {
        if (reply != NULL) freeReplyObject(reply);
        return NULL;
    }
    return (redisReply *)reply;
}

#endif
