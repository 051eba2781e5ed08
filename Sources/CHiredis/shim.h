#ifndef CHIREDIS_SHIM_H
#define CHIREDIS_SHIM_H

// Swift-callable accessors over libhiredis. Swift cannot call hiredis's variadic command
// functions, cannot read `redisContext.errstr` (a fixed C array) as a string, and should not
// depend on the layout of `redisReply`, which changed between hiredis 0.14 and 1.x. Everything
// the Redis client needs goes through these `static inline` helpers, prefixed `chiredis_`.

#include <hiredis/hiredis.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

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

/// Whether the TCP socket `fd` is connected to itself: a connect to a local port in the
/// ephemeral range where nothing listens can be answered by the connecting socket itself (a TCP
/// "simultaneous open", when the kernel picks the destination port as the source port).
static inline int chiredis_is_self_connected(int fd) {
    struct sockaddr_storage local, peer;
    socklen_t local_len = sizeof local, peer_len = sizeof peer;
    memset(&local, 0, sizeof local);
    memset(&peer, 0, sizeof peer);
    if (getsockname(fd, (struct sockaddr *)&local, &local_len) != 0) return 0;
    if (getpeername(fd, (struct sockaddr *)&peer, &peer_len) != 0) return 0;
    return local_len == peer_len && memcmp(&local, &peer, local_len) == 0;
}

/// Connects over TCP. A socket connected to itself would read its own commands back as
/// replies, so it is closed and reported as a refused connection.
static inline redisContext *chiredis_connect_tcp(const char *host, int port, long timeout_usec) {
    struct timeval tv = { timeout_usec / 1000000, timeout_usec % 1000000 };
    redisContext *c = redisConnectWithTimeout(host, port, tv);
    if (c == NULL || c->err != 0 || c->fd < 0) return c;
    if (chiredis_is_self_connected(c->fd)) {
        close(c->fd);
        c->fd = -1;  // redisFree closes only a valid descriptor (hiredis 0.14 and 1.x)
        c->err = REDIS_ERR_IO;
        snprintf(c->errstr, sizeof c->errstr, "Connection refused (the socket connected to itself)");
    }
    return c;
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

/// The connection's socket, duplicated for NIO once the handshake is done.
static inline int chiredis_context_fd(const redisContext *c) { return c->fd; }

static inline int chiredis_errno(void) { return errno; }

/// An eventfd the connecting thread waits on during its backoff, so close() can wake it.
static inline int chiredis_eventfd(void) { return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); }
static inline void chiredis_eventfd_signal(int fd) { uint64_t one = 1; (void)!write(fd, &one, sizeof one); }
static inline void chiredis_eventfd_drain(int fd) { uint64_t value; (void)!read(fd, &value, sizeof value); }

/// Waits until `wake_fd` is signalled, up to timeout_ms (-1: forever). Returns 1 when woken,
/// 0 on timeout or an interrupted wait, -1 on error.
static inline int chiredis_wait(int wake_fd, int timeout_ms) {
    struct pollfd fd = { wake_fd, POLLIN, 0 };
    int n = poll(&fd, 1, timeout_ms);
    if (n < 0) return errno == EINTR ? 0 : -1;
    return (fd.revents & POLLIN) ? 1 : 0;
}

/// A reply parser of its own, fed the bytes an event loop read from the connection's socket
/// (the steady-state I/O runs on NIO; hiredis parses).
static inline redisReader *chiredis_reader_create(void) { return redisReaderCreate(); }
static inline void chiredis_reader_free(redisReader *r) { redisReaderFree(r); }
static inline int chiredis_reader_feed(redisReader *r, const char *buf, size_t len) { return redisReaderFeed(r, buf, len); }

/// The next complete reply fed so far, or NULL with *status REDIS_OK when none is complete yet;
/// NULL with *status REDIS_ERR on a protocol error.
static inline redisReply *chiredis_reader_next(redisReader *r, int *status) {
    void *reply = NULL;
    *status = redisReaderGetReply(r, &reply);
    if (*status != REDIS_OK && reply != NULL) { freeReplyObject(reply); reply = NULL; }
    return (redisReply *)reply;
}

/// A second descriptor of the connection's socket, for NIO to own once hiredis's context (which
/// closes its own on free) has done the blocking handshake. -1 with errno on failure.
static inline int chiredis_dup_cloexec(int fd) { return fcntl(fd, F_DUPFD_CLOEXEC, 0); }

#endif
