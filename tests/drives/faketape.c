/*
 * faketape.c: an LD_PRELOAD shim that makes /dev/nst0 and /dev/st0 a small tape drive, for
 * testing the real-drive pass-through (devices/realdrive.py) on a machine without one.
 *
 * Build: gcc -shared -fPIC -o faketape.so faketape.c -ldl (tests/drives/conftest.py does).
 *
 * Environment:
 *   FAKETAPE_FILE  the tape, kept between processes (required; without it nothing is faked).
 *                  Layout: "FAKETAP1", then int32 position, block size, density, loaded,
 *                  then the objects: int32 length and the data, -1 for a filemark.
 *   FAKETAPE_LOG   a file to which every call on the fake device is appended, one line each.
 *   FAKETAPE_FAIL  "call=errno,...": make a call fail, e.g. "read=5" (EIO on every read);
 *                  calls: open read write op status pos close, or an operation (MTFSF...).
 *
 * What it emulates, after Linux drivers/scsi/st.c and include/uapi/linux/mtio.h: one record
 * per read and write (ENOMEM for a read shorter than the record in variable-block mode, EINVAL
 * for a write that is not whole blocks in fixed-block mode), a write erases what followed, a
 * filemark written at close after writing and before MTREW/MTOFFL/MTBSF after writing, /dev/st0
 * rewinds at close, ENOMEDIUM for an open without O_NONBLOCK of an unloaded tape, EIO for a
 * space operation that meets the end of data or the beginning of tape, MTIOCGET with file
 * and block numbers and GMT_* bits, MTIOCPOS with the object index. One open at a time (EBUSY).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mtio.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

struct object {
    int32_t length; /* -1: a filemark */
    char *data;
};

static struct {
    int fd;          /* the descriptor handed out (a /dev/null open), -1 when closed */
    int rewinding;   /* /dev/st0: rewind at close */
    int writable;
    int wrote;       /* the last thing done was a write: a filemark is due */
    int32_t pos, blksize, density, loaded;
    struct object *objects;
    int32_t count, capacity;
} tape = {.fd = -1};

static const char MAGIC[8] = "FAKETAP1";

static void say(const char *format, ...)
{
    const char *path = getenv("FAKETAPE_LOG");
    if (!path)
        return;
    FILE *log = fopen(path, "a");
    if (!log)
        return;
    va_list ap;
    va_start(ap, format);
    vfprintf(log, format, ap);
    va_end(ap);
    fputc('\n', log);
    fclose(log);
}

/* The errno FAKETAPE_FAIL asks for on `call`, or 0. */
static int injected(const char *call)
{
    const char *spec = getenv("FAKETAPE_FAIL");
    size_t length = strlen(call);
    while (spec && *spec) {
        if (!strncmp(spec, call, length) && spec[length] == '=')
            return atoi(spec + length + 1);
        spec = strchr(spec, ',');
        if (spec)
            spec++;
    }
    return 0;
}

static int fail(int code)
{
    errno = code;
    return -1;
}

static int is_fake(const char *path)
{
    return path && getenv("FAKETAPE_FILE") &&
           (!strcmp(path, "/dev/nst0") || !strcmp(path, "/dev/st0"));
}

static void cut(int32_t at)
{
    for (int32_t i = at; i < tape.count; i++)
        free(tape.objects[i].data);
    if (tape.count > at)
        tape.count = at;
}

static void append(int32_t length, const void *data)
{
    cut(tape.pos);
    if (tape.count == tape.capacity) {
        tape.capacity = tape.capacity ? tape.capacity * 2 : 64;
        tape.objects = realloc(tape.objects, tape.capacity * sizeof *tape.objects);
    }
    struct object *o = &tape.objects[tape.count++];
    o->length = length;
    o->data = NULL;
    if (length > 0) {
        o->data = malloc(length);
        memcpy(o->data, data, length);
    }
    tape.pos++;
}

static int load(void)
{
    FILE *f = fopen(getenv("FAKETAPE_FILE"), "rb");
    tape.pos = tape.blksize = tape.density = 0;
    tape.loaded = 1;
    tape.count = 0;
    if (!f)
        return 0; /* a new tape: blank, loaded */
    char magic[8];
    int32_t head[4];
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, MAGIC, 8) || fread(head, 4, 4, f) != 4) {
        fclose(f);
        return fail(EIO);
    }
    int32_t length;
    while (fread(&length, 4, 1, f) == 1) {
        char *data = length > 0 ? malloc(length) : NULL;
        if (length > 0 && fread(data, 1, length, f) != (size_t)length) {
            free(data);
            fclose(f);
            return fail(EIO);
        }
        tape.pos = tape.count;
        append(length, data);
        free(data);
    }
    fclose(f);
    tape.pos = head[0];
    tape.blksize = head[1];
    tape.density = head[2];
    tape.loaded = head[3];
    return 0;
}

static void save(void)
{
    FILE *f = fopen(getenv("FAKETAPE_FILE"), "wb");
    if (!f)
        return;
    int32_t head[4] = {tape.pos, tape.blksize, tape.density, tape.loaded};
    fwrite(MAGIC, 1, 8, f);
    fwrite(head, 4, 4, f);
    for (int32_t i = 0; i < tape.count; i++) {
        fwrite(&tape.objects[i].length, 4, 1, f);
        if (tape.objects[i].length > 0)
            fwrite(tape.objects[i].data, 1, tape.objects[i].length, f);
    }
    fclose(f);
    cut(0);
}

static int is_mark(int32_t at)
{
    return at >= 0 && at < tape.count && tape.objects[at].length < 0;
}

/* st writes a filemark before moving away from what it wrote. */
static void finish_file(void)
{
    if (tape.wrote)
        append(-1, NULL);
    tape.wrote = 0;
}

#define REAL(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

static int fake_open(const char *path, int flags)
{
    say("open %s %s%s", path,
        (flags & O_ACCMODE) == O_RDONLY ? "O_RDONLY" : (flags & O_ACCMODE) == O_WRONLY ? "O_WRONLY" : "O_RDWR",
        flags & O_NONBLOCK ? "|O_NONBLOCK" : "");
    int code = injected("open");
    if (code)
        return fail(code);
    if (tape.fd >= 0)
        return fail(EBUSY);
    if (load() < 0)
        return -1;
    if (!tape.loaded && !(flags & O_NONBLOCK)) {
        cut(0);
        return fail(ENOMEDIUM);
    }
    tape.fd = REAL(open)("/dev/null", O_RDWR | O_CLOEXEC);
    tape.rewinding = !strcmp(path, "/dev/st0");
    tape.writable = (flags & O_ACCMODE) != O_RDONLY;
    tape.wrote = 0;
    return tape.fd;
}

int open(const char *path, int flags, ...)
{
    mode_t mode = 0;
    if (flags & (O_CREAT | __O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, int);
        va_end(ap);
    }
    return is_fake(path) ? fake_open(path, flags) : REAL(open)(path, flags, mode);
}

int open64(const char *path, int flags, ...)
{
    mode_t mode = 0;
    if (flags & (O_CREAT | __O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, int);
        va_end(ap);
    }
    return is_fake(path) ? fake_open(path, flags) : REAL(open64)(path, flags, mode);
}

int openat(int dir, const char *path, int flags, ...)
{
    mode_t mode = 0;
    if (flags & (O_CREAT | __O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, int);
        va_end(ap);
    }
    return is_fake(path) ? fake_open(path, flags) : REAL(openat)(dir, path, flags, mode);
}

int openat64(int dir, const char *path, int flags, ...)
{
    mode_t mode = 0;
    if (flags & (O_CREAT | __O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, int);
        va_end(ap);
    }
    return is_fake(path) ? fake_open(path, flags) : REAL(openat64)(dir, path, flags, mode);
}

int __open_2(const char *path, int flags)
{
    return is_fake(path) ? fake_open(path, flags) : REAL(__open_2)(path, flags);
}

int __open64_2(const char *path, int flags)
{
    return is_fake(path) ? fake_open(path, flags) : REAL(__open64_2)(path, flags);
}

static ssize_t fake_read(void *buffer, size_t size)
{
    int code = injected("read");
    say("read %zu", size);
    if (code)
        return fail(code);
    if (!tape.loaded)
        return fail(ENOMEDIUM);
    if (tape.pos >= tape.count)
        return 0; /* the end of data */
    struct object *o = &tape.objects[tape.pos++];
    if (o->length < 0)
        return 0; /* a filemark */
    if (tape.blksize == 0 && size < (size_t)o->length)
        return fail(ENOMEM); /* st: the record does not fit, and it is skipped */
    size_t n = size < (size_t)o->length ? size : (size_t)o->length;
    memcpy(buffer, o->data, n);
    return (ssize_t)n;
}

ssize_t read(int fd, void *buffer, size_t size)
{
    return fd >= 0 && fd == tape.fd ? fake_read(buffer, size) : REAL(read)(fd, buffer, size);
}

ssize_t readv(int fd, const struct iovec *iov, int count)
{
    if (fd < 0 || fd != tape.fd)
        return REAL(readv)(fd, iov, count);
    if (count != 1)
        return fail(EINVAL); /* RealDrive reads into one buffer */
    return fake_read(iov[0].iov_base, iov[0].iov_len);
}

ssize_t write(int fd, const void *data, size_t size)
{
    if (fd < 0 || fd != tape.fd)
        return REAL(write)(fd, data, size);
    say("write %zu", size);
    int code = injected("write");
    if (code)
        return fail(code);
    if (!tape.writable)
        return fail(EBADF);
    if (!tape.loaded)
        return fail(ENOMEDIUM);
    if (tape.blksize && size % tape.blksize)
        return fail(EINVAL);
    append((int32_t)size, data);
    tape.wrote = 1;
    return (ssize_t)size;
}

static int space_files(int count)
{
    for (; count > 0; count--) {
        while (tape.pos < tape.count && !is_mark(tape.pos))
            tape.pos++;
        if (tape.pos >= tape.count)
            return fail(EIO);
        tape.pos++;
    }
    for (; count < 0; count++) {
        do {
            if (tape.pos == 0)
                return fail(EIO);
            tape.pos--;
        } while (!is_mark(tape.pos));
    }
    return 0;
}

static int space_records(int count)
{
    for (; count > 0; count--) {
        if (tape.pos >= tape.count)
            return fail(EIO);
        if (is_mark(tape.pos++))
            return fail(EIO);
    }
    for (; count < 0; count++) {
        if (tape.pos == 0 || is_mark(tape.pos - 1))
            return fail(EIO);
        tape.pos--;
    }
    return 0;
}

static const char *op_names[] = {
    [MTRESET] = "MTRESET", [MTFSF] = "MTFSF", [MTBSF] = "MTBSF", [MTFSR] = "MTFSR",
    [MTBSR] = "MTBSR", [MTWEOF] = "MTWEOF", [MTREW] = "MTREW", [MTOFFL] = "MTOFFL",
    [MTNOP] = "MTNOP", [MTEOM] = "MTEOM", [MTERASE] = "MTERASE", [MTSETBLK] = "MTSETBLK",
    [MTSETDENSITY] = "MTSETDENSITY", [MTLOAD] = "MTLOAD", [MTUNLOAD] = "MTUNLOAD",
};

static int operate(const struct mtop *op)
{
    const char *name = op->mt_op >= 0 && op->mt_op < (int)(sizeof op_names / sizeof *op_names)
                           ? op_names[op->mt_op] : NULL;
    say("ioctl MTIOCTOP %s %d", name ? name : "?", op->mt_count);
    int code = injected("op");
    if (!code && name)
        code = injected(name);
    if (code)
        return fail(code);
    if (!name)
        return fail(EINVAL);
    int medium_free = op->mt_op == MTNOP || op->mt_op == MTLOAD || op->mt_op == MTSETBLK ||
                      op->mt_op == MTSETDENSITY;
    if (!tape.loaded && !medium_free)
        return fail(ENOMEDIUM);
    switch (op->mt_op) {
    case MTREW: case MTOFFL: case MTBSF: /* as devices/drive.py: _MARK_BEFORE */
        finish_file();
        break;
    }
    if (op->mt_op != MTNOP && op->mt_op != MTSETBLK && op->mt_op != MTSETDENSITY)
        tape.wrote = 0;
    switch (op->mt_op) {
    case MTFSF: return space_files(op->mt_count);
    case MTBSF: return space_files(-op->mt_count);
    case MTFSR: return space_records(op->mt_count);
    case MTBSR: return space_records(-op->mt_count);
    case MTWEOF:
        if (!tape.writable)
            return fail(EACCES);
        for (int i = 0; i < op->mt_count; i++)
            append(-1, NULL);
        if (op->mt_count == 0)
            cut(tape.pos);
        return 0;
    case MTREW: tape.pos = 0; return 0;
    case MTOFFL: case MTUNLOAD: tape.pos = 0; tape.loaded = 0; return 0;
    case MTLOAD: tape.pos = 0; tape.loaded = 1; return 0;
    case MTEOM: tape.pos = tape.count; return 0;
    case MTERASE: cut(tape.pos); return 0;
    case MTNOP: return 0;
    case MTSETBLK: tape.blksize = op->mt_count; return 0;
    case MTSETDENSITY: tape.density = op->mt_count; return 0;
    }
    return fail(EINVAL);
}

static int get_status(struct mtget *get)
{
    say("ioctl MTIOCGET");
    int code = injected("status");
    if (code)
        return fail(code);
    memset(get, 0, sizeof *get);
    get->mt_type = MT_ISSCSI2;
    get->mt_dsreg = ((long)(tape.density & 0xff) << MT_ST_DENSITY_SHIFT) |
                    (tape.blksize & MT_ST_BLKSIZE_MASK);
    if (!tape.loaded) {
        get->mt_gstat = GMT_DR_OPEN(~0L);
        get->mt_fileno = get->mt_blkno = -1;
        return 0;
    }
    get->mt_gstat = GMT_ONLINE(~0L);
    if (tape.pos == 0)
        get->mt_gstat |= GMT_BOT(~0L);
    if (is_mark(tape.pos - 1))
        get->mt_gstat |= GMT_EOF(~0L);
    if (tape.pos >= tape.count)
        get->mt_gstat |= GMT_EOD(~0L);
    for (int32_t i = 0; i < tape.pos; i++) {
        if (is_mark(i)) {
            get->mt_fileno++;
            get->mt_blkno = 0;
        } else {
            get->mt_blkno++;
        }
    }
    return 0;
}

int ioctl(int fd, unsigned long request, ...)
{
    va_list ap;
    va_start(ap, request);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    if (fd < 0 || fd != tape.fd)
        return REAL(ioctl)(fd, request, arg);
    if (request == MTIOCTOP)
        return operate(arg);
    if (request == MTIOCGET)
        return get_status(arg);
    if (request == MTIOCPOS) {
        say("ioctl MTIOCPOS");
        int code = injected("pos");
        if (code)
            return fail(code);
        ((struct mtpos *)arg)->mt_blkno = tape.pos;
        return 0;
    }
    say("ioctl %#lx", request);
    return fail(ENOTTY);
}

int close(int fd)
{
    if (fd < 0 || fd != tape.fd)
        return REAL(close)(fd);
    say("close");
    finish_file(); /* st_flush: a filemark after writing */
    if (tape.rewinding)
        tape.pos = 0;
    save();
    tape.fd = -1;
    REAL(close)(fd);
    int code = injected("close");
    return code ? fail(code) : 0;
}
