/* The target of a live migration: reads and checks the stream, fills guest memory, installs state.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "macro.h"
#include "migrate.h"

struct MigrateRecv {
    int fd;
    MigrateHello hello;
    Snapshot settings; /* the HELLO's settings as an image header: cfg's strings point here */
    Snapshot *state;
};

static int wait_fd(int fd, short events, uint64_t timeout_ms)
{
    struct pollfd pfd = {.fd = fd, .events = events};
    int n;

    do
        n = poll(&pfd, 1, (int)MIN(timeout_ms, (uint64_t)INT32_MAX));
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    return n == 0 ? -ETIMEDOUT : 0;
}

/* Reads exactly len bytes. -EPIPE: the stream ended first; -ETIMEDOUT: the source fell silent. */
static int reader_read(MigrateReader *rd, void *p, size_t len)
{
    uint8_t *b = p;

    if (rd->fd < 0) {
        if (rd->len - rd->at < len)
            return -EPIPE;
        memcpy(b, rd->buf + rd->at, len);
        rd->at += len;
        rd->bytes_read += len;
        return 0;
    }
    while (len > 0) {
        ssize_t n = recv(rd->fd, b, len, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            int r = wait_fd(rd->fd, POLLIN, rd->idle_ms);
            if (r < 0)
                return r;
            continue;
        }
        if (n < 0)
            return -errno;
        if (n == 0)
            return -EPIPE;
        b += n;
        len -= (size_t)n;
        rd->bytes_read += (uint64_t)n;
    }
    return 0;
}

static int read_failed(int r, Error *e, const char *what)
{
    if (r == -EPIPE)
        return error_set_errno(e, EPIPE, "the stream ended in the middle of %s", what);
    if (r == -ETIMEDOUT)
        return error_set_errno(e, ETIMEDOUT, "the source sent nothing for %g s (in %s)",
                               MIGRATE_RECV_IDLE_S, what);
    return error_set_errno(e, -r, "cannot read %s: %m", what);
}

static int read_record(MigrateReader *rd, MigrateRecord *rec, Error *e)
{
    int r = reader_read(rd, rec, sizeof(*rec));

    if (r < 0)
        return read_failed(r, e, "a record header");
    if (rec->type == 0 || rec->type >= _MIGRATE_REC_MAX)
        return error_set_errno(e, EINVAL, "unknown record type %u at byte %llu", rec->type,
                               (unsigned long long)(rd->bytes_read - sizeof(*rec)));
    if (rec->reserved != 0)
        return error_set_errno(e, EINVAL, "record type %u has reserved bits 0x%x", rec->type,
                               rec->reserved);
    return 0;
}

/* An ERROR record's message, printable and bounded, as -ECANCELED. */
static int read_error_record(MigrateReader *rd, const MigrateRecord *rec, Error *e)
{
    char msg[MIGRATE_ERROR_MAX + 1];
    int r;

    if (rec->len == 0 || rec->len > MIGRATE_ERROR_MAX)
        return error_set_errno(e, EINVAL, "an error record of %llu bytes",
                               (unsigned long long)rec->len);
    r = reader_read(rd, msg, rec->len);
    if (r < 0)
        return read_failed(r, e, "an error record");
    msg[rec->len] = '\0';
    for (size_t i = 0; i < rec->len; i++)
        if ((unsigned char)msg[i] < 0x20 || msg[i] == 0x7f)
            msg[i] = '?';
    return error_set_errno(e, ECANCELED, "the source gave up: %s", msg);
}

int migrate_read_hello(MigrateReader *rd, MigrateHello *out, Error *e)
{
    MigrateRecord rec;
    int r;

    r = read_record(rd, &rec, e);
    if (r < 0)
        return r;
    if (rec.type != MIGRATE_REC_HELLO)
        return error_set_errno(e, EINVAL, "the stream starts with record type %u, not a hello",
                               rec.type);
    if (rec.len != sizeof(*out))
        return error_set_errno(e, EINVAL, "a hello of %llu bytes, expected %zu",
                               (unsigned long long)rec.len, sizeof(*out));
    r = reader_read(rd, out, sizeof(*out));
    if (r < 0)
        return read_failed(r, e, "the hello");
    if (memcmp(out->magic, MIGRATE_MAGIC, MIGRATE_MAGIC_LEN) != 0)
        return error_set_errno(e, EINVAL, "not a minihv migration stream (bad magic)");
    if (out->format_version != MIGRATE_FORMAT_VERSION)
        return error_set_errno(e, EINVAL,
                               "migration stream version %u, this minihv reads version %u",
                               out->format_version, MIGRATE_FORMAT_VERSION);
    if (out->reserved != 0)
        return error_set_errno(e, EINVAL, "the hello has reserved bits 0x%x", out->reserved);
    if (out->settings.state_size != 0)
        return error_set_errno(e, EINVAL, "the hello's settings carry state");
    return snapshot_check_header(&out->settings, SNAPSHOT_HEADER_SIZE, UINT64_MAX, e);
}

static int read_pages(MigrateReader *rd, const MigrateRecord *rec, GuestMem *mem, Error *e)
{
    MigratePages p;
    uint64_t bytes;
    int r;

    if (rec->len < sizeof(p))
        return error_set_errno(e, EINVAL, "a pages record of %llu bytes",
                               (unsigned long long)rec->len);
    r = reader_read(rd, &p, sizeof(p));
    if (r < 0)
        return read_failed(r, e, "a pages record");
    if (p.count == 0 || p.count > MIGRATE_PAGES_MAX || p.reserved != 0)
        return error_set_errno(e, EINVAL, "a pages record of %u pages (at most %u)", p.count,
                               MIGRATE_PAGES_MAX);
    bytes = (uint64_t)p.count * MIGRATE_PAGE_SIZE;
    if (rec->len - sizeof(p) != bytes)
        return error_set_errno(e, EINVAL, "a pages record of %u pages carries %llu bytes", p.count,
                               (unsigned long long)(rec->len - sizeof(p)));
    if (p.gpa % MIGRATE_PAGE_SIZE || p.gpa > mem->size || mem->size - p.gpa < bytes)
        return error_set_errno(e, EINVAL, "pages at 0x%llx..+%llu lie outside %llu bytes of memory",
                               (unsigned long long)p.gpa, (unsigned long long)bytes,
                               (unsigned long long)mem->size);
    r = reader_read(rd, mem->base + p.gpa, bytes);
    return r < 0 ? read_failed(r, e, "guest pages") : 0;
}

/* The settings a guest's ABI and devices depend on are the same in both headers. */
static bool settings_equal(const SnapshotHeader *a, const SnapshotHeader *b)
{
    return a->abi_version == b->abi_version && a->mode == b->mode && a->vcpus == b->vcpus &&
           a->flags == b->flags && a->mem_size == b->mem_size && a->guest_size == b->guest_size &&
           a->guest_hash == b->guest_hash && a->disk_sectors == b->disk_sectors &&
           memcmp(a->mac, b->mac, sizeof(a->mac)) == 0 &&
           streq(a->disk_path, b->disk_path); /* both checked NUL-terminated */
}

static int read_state(MigrateReader *rd, const MigrateRecord *rec, const MigrateHello *hello,
                      Snapshot **ret, Error *e)
{
    _cleanup_free_ uint8_t *buf = NULL;
    Snapshot *s;
    int r;

    if (rec->len < SNAPSHOT_HEADER_SIZE || rec->len > MIGRATE_STATE_MAX)
        return error_set_errno(e, EINVAL, "a state record of %llu bytes",
                               (unsigned long long)rec->len);
    buf = malloc(rec->len);
    if (!buf)
        return error_set_errno(e, ENOMEM, "out of memory");
    r = reader_read(rd, buf, rec->len);
    if (r < 0)
        return read_failed(r, e, "the state");
    /* memory came over the stream: the image's file-size check does not apply */
    r = snapshot_parse(buf, rec->len, UINT64_MAX, &s, e);
    if (r < 0)
        return r;
    if (rec->len != s->header.state_offset + s->header.state_size) {
        snapshot_free(s);
        return error_set_errno(e, EINVAL, "the state record has bytes after the state area");
    }
    if (!settings_equal(&s->header, &hello->settings)) {
        snapshot_free(s);
        return error_set_errno(e, EINVAL, "the state's settings differ from the hello's");
    }
    *ret = s;
    return 0;
}

int migrate_read_stream(MigrateReader *rd, const MigrateHello *hello, GuestMem *mem, Snapshot **ret,
                        Error *e)
{
    for (;;) {
        MigrateRecord rec;
        int r = read_record(rd, &rec, e);

        if (r < 0)
            return r;
        switch (rec.type) {
        case MIGRATE_REC_PAGES:
            r = read_pages(rd, &rec, mem, e);
            break;
        case MIGRATE_REC_STATE:
            return read_state(rd, &rec, hello, ret, e);
        case MIGRATE_REC_ERROR:
            return read_error_record(rd, &rec, e);
        default:
            return error_set_errno(e, EINVAL, "unexpected record type %u in the memory stream",
                                   rec.type);
        }
        if (r < 0)
            return r;
    }
}

int migrate_write_record(int fd, uint32_t type, const void *payload, size_t len,
                         uint64_t timeout_ms)
{
    MigrateRecord rec = {.type = type, .len = len};
    uint64_t deadline = now_mono_ns() + timeout_ms * 1000000ull;
    const uint8_t *parts[2] = {(const uint8_t *)&rec, payload};
    size_t sizes[2] = {sizeof(rec), len};

    for (unsigned i = 0; i < 2; i++) {
        const uint8_t *b = parts[i];
        size_t left = sizes[i];

        while (left > 0) {
            ssize_t n = send(fd, b, left, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && errno == EAGAIN) {
                uint64_t now = now_mono_ns();
                int r = now >= deadline ? -ETIMEDOUT
                                        : wait_fd(fd, POLLOUT, (deadline - now) / 1000000 + 1);
                if (r < 0)
                    return r;
                continue;
            }
            if (n < 0)
                return -errno;
            b += n;
            left -= (size_t)n;
        }
    }
    return 0;
}

void migrate_recv_refuse(MigrateRecv *rx, const char *message)
{
    size_t len = strnlen(message, MIGRATE_ERROR_MAX);

    if (!rx || rx->fd < 0)
        return;
    (void)migrate_write_record(rx->fd, MIGRATE_REC_ERROR, message, len ? len : 1, 1000);
    rx->fd = safe_close(rx->fd);
}

int migrate_recv_begin(int fd, VmConfig *cfg, unsigned given, bool mac_given, MigrateRecv **ret,
                       Error *e)
{
    MigrateReader rd = {.fd = fd, .idle_ms = (uint64_t)(MIGRATE_RECV_IDLE_S * 1000)};
    MigrateRecv *rx;
    int r;

    rx = calloc(1, sizeof(*rx));
    if (!rx) {
        safe_close(fd);
        return error_set_errno(e, ENOMEM, "out of memory");
    }
    rx->fd = fd;
    rx->settings.fd = -EBADF;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int)); /* see the source */
    r = migrate_read_hello(&rd, &rx->hello, e);
    if (r >= 0) {
        rx->settings.header = rx->hello.settings;
        r = snapshot_apply_config(&rx->settings, cfg, given, mac_given, e);
    }
    if (r < 0) {
        migrate_recv_refuse(rx, e->message);
        migrate_recv_free(rx);
        return r;
    }
    cfg->restore = NULL; /* memory and state come over the stream */
    cfg->incoming = true;
    *ret = rx;
    return 0;
}

int migrate_recv_run(MigrateRecv *rx, Vm *vm, Error *e)
{
    MigrateReader rd = {.fd = rx->fd, .idle_ms = (uint64_t)(MIGRATE_RECV_IDLE_S * 1000)};
    int r;

    r = migrate_write_record(rx->fd, MIGRATE_REC_ACCEPT, NULL, 0, 5000);
    if (r < 0)
        r = error_set_errno(e, -r, "cannot accept the migration: %m");
    if (r >= 0)
        r = migrate_read_stream(&rd, &rx->hello, &vm->mem, &rx->state, e);
    if (r >= 0) {
        r = snapshot_restore(vm, rx->state, e);
        vm->restored_from_image = false; /* no image file backs this domain */
    }
    if (r < 0)
        migrate_recv_refuse(rx, e->message);
    return r;
}

int migrate_recv_confirm(MigrateRecv *rx, Error *e)
{
    /* longer than the source waits for READY, so that the source always decides first */
    MigrateReader rd = {.fd = rx->fd,
                        .idle_ms = (uint64_t)((MIGRATE_CONFIRM_TIMEOUT_S + 5) * 1000)};
    MigrateRecord rec;
    uint8_t first;
    int r;

    r = migrate_write_record(rx->fd, MIGRATE_REC_READY, NULL, 0, 1000);
    if (r < 0) {
        rx->fd = safe_close(rx->fd);
        return error_set_errno(e, -r, "cannot tell the source that the guest is ready: %m");
    }
    r = reader_read(&rd, &first, 1);
    if (r == -EPIPE) {
        rx->fd = safe_close(rx->fd); /* the source handed over */
        return 0;
    }
    if (r < 0)
        r = read_failed(r, e, "the source's answer to ready");
    else {
        memcpy(&rec, &first, 1);
        r = reader_read(&rd, (uint8_t *)&rec + 1, sizeof(rec) - 1);
        if (r < 0)
            r = read_failed(r, e, "the source's answer to ready");
        else if (rec.type == MIGRATE_REC_ERROR && rec.reserved == 0)
            r = read_error_record(&rd, &rec, e);
        else
            r = error_set_errno(e, EPROTO, "the source answered ready with record type %u",
                                rec.type);
    }
    rx->fd = safe_close(rx->fd);
    return r;
}

MigrateRecv *migrate_recv_free(MigrateRecv *rx)
{
    if (!rx)
        return NULL;
    safe_close(rx->fd);
    snapshot_free(rx->state);
    return mfree(rx);
}
