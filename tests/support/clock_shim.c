/* A wall-clock shim for tests: LD_PRELOAD it into a process to move that process's CLOCK_REALTIME.
 *
 * The offset (int64 nanoseconds) and a "synchronised" flag are read on every call from a small file that
 * the test maps too (ROOMSCRIBE_CLOCK_SHIM=path), so the test can step the clock of a running process.
 * Only the wall clock moves: CLOCK_REALTIME(_COARSE) in clock_gettime, gettimeofday and time. Absolute
 * deadlines on the wall clock (pthread_cond_timedwait on a realtime condition variable,
 * pthread_cond_clockwait, sem_timedwait, sem_clockwait, clock_nanosleep with TIMER_ABSTIME) are moved
 * back by the same offset before the kernel sees them, so a wait lasts as long as it would without the
 * shim. adjtimex/ntp_adjtime report the flag: TIME_OK when 1, TIME_ERROR (STA_UNSYNC) when 0, the
 * kernel's answer when -1, and fail with EPERM when -2, as under systemd's ProtectClock=. (libfaketime
 * 0.9.10 is no help here: its waits hang Python 3.11's, see the project's testing notes.)
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/timex.h>
#include <time.h>
#include <unistd.h>

struct shim_state {
    volatile int64_t offset_ns;
    volatile int64_t synchronized; /* 1, 0; -1: ask the kernel; -2: refuse with EPERM (a system call filter) */
};

static struct shim_state *state;
static int tried;

static struct shim_state *shim(void) {
    if (!__atomic_load_n(&tried, __ATOMIC_ACQUIRE)) {
        const char *path = getenv("ROOMSCRIBE_CLOCK_SHIM");
        struct shim_state *mapped = NULL;
        if (path) {
            int fd = open(path, O_RDONLY | O_CLOEXEC);
            if (fd >= 0) {
                void *p = mmap(NULL, sizeof(struct shim_state), PROT_READ, MAP_SHARED, fd, 0);
                close(fd);
                if (p != MAP_FAILED) mapped = p;
            }
        }
        state = mapped;
        __atomic_store_n(&tried, 1, __ATOMIC_RELEASE);
    }
    return state;
}

static int64_t offset_ns(void) {
    struct shim_state *s = shim();
    return s ? s->offset_ns : 0;
}

static void add_ns(struct timespec *ts, int64_t ns) {
    int64_t total = (int64_t)ts->tv_nsec + ns % 1000000000LL;
    ts->tv_sec += ns / 1000000000LL + total / 1000000000LL;
    total %= 1000000000LL;
    if (total < 0) {
        total += 1000000000LL;
        ts->tv_sec -= 1;
    }
    ts->tv_nsec = total;
}

static int is_wall(clockid_t id) { return id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE; }

#define REAL(name) static __typeof__(name) *real_##name; \
    if (!real_##name) real_##name = (__typeof__(name) *)dlsym(RTLD_NEXT, #name)

int clock_gettime(clockid_t id, struct timespec *ts) {
    REAL(clock_gettime);
    int rc = real_clock_gettime(id, ts);
    if (rc == 0 && is_wall(id)) add_ns(ts, offset_ns());
    return rc;
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz) {
    struct timespec ts;
    int rc = clock_gettime(CLOCK_REALTIME, &ts);
    if (rc == 0) {
        tv->tv_sec = ts.tv_sec;
        tv->tv_usec = ts.tv_nsec / 1000;
    }
    (void)tz;
    return rc;
}

time_t time(time_t *out) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (out) *out = ts.tv_sec;
    return ts.tv_sec;
}

static struct timespec unshifted(const struct timespec *abstime) {
    struct timespec real = *abstime;
    add_ns(&real, -offset_ns());
    return real;
}

int pthread_cond_timedwait(pthread_cond_t *restrict cond, pthread_mutex_t *restrict mutex,
                           const struct timespec *restrict abstime) {
    REAL(pthread_cond_timedwait);
    /* glibc keeps the condition variable's clock in __wrefs: bit 1 set = CLOCK_MONOTONIC. */
    if (!(cond->__data.__wrefs & 2)) {
        struct timespec real = unshifted(abstime);
        return real_pthread_cond_timedwait(cond, mutex, &real);
    }
    return real_pthread_cond_timedwait(cond, mutex, abstime);
}

int pthread_cond_clockwait(pthread_cond_t *restrict cond, pthread_mutex_t *restrict mutex, clockid_t id,
                           const struct timespec *restrict abstime) {
    REAL(pthread_cond_clockwait);
    if (is_wall(id)) {
        struct timespec real = unshifted(abstime);
        return real_pthread_cond_clockwait(cond, mutex, id, &real);
    }
    return real_pthread_cond_clockwait(cond, mutex, id, abstime);
}

int sem_timedwait(sem_t *restrict sem, const struct timespec *restrict abstime) {
    REAL(sem_timedwait);
    struct timespec real = unshifted(abstime);
    return real_sem_timedwait(sem, &real);
}

int sem_clockwait(sem_t *restrict sem, clockid_t id, const struct timespec *restrict abstime) {
    REAL(sem_clockwait);
    if (is_wall(id)) {
        struct timespec real = unshifted(abstime);
        return real_sem_clockwait(sem, id, &real);
    }
    return real_sem_clockwait(sem, id, abstime);
}

int pthread_mutex_timedlock(pthread_mutex_t *restrict mutex, const struct timespec *restrict abstime) {
    REAL(pthread_mutex_timedlock);
    struct timespec real = unshifted(abstime);
    return real_pthread_mutex_timedlock(mutex, &real);
}

int clock_nanosleep(clockid_t id, int flags, const struct timespec *request, struct timespec *remain) {
    REAL(clock_nanosleep);
    if ((flags & TIMER_ABSTIME) && is_wall(id)) {
        struct timespec real = unshifted(request);
        return real_clock_nanosleep(id, flags, &real, remain);
    }
    return real_clock_nanosleep(id, flags, request, remain);
}

static int report_sync(int kernel_answer, struct timex *buf) {
    struct shim_state *s = shim();
    if (s && s->synchronized == -2) {
        errno = EPERM;
        return -1;
    }
    if (!s || s->synchronized < 0 || kernel_answer < 0) return kernel_answer;
    if (s->synchronized) {
        if (buf) buf->status &= ~STA_UNSYNC;
        return TIME_OK;
    }
    if (buf) buf->status |= STA_UNSYNC;
    return TIME_ERROR;
}

int adjtimex(struct timex *buf) {
    REAL(adjtimex);
    return report_sync(real_adjtimex(buf), buf);
}

int ntp_adjtime(struct timex *buf) {
    REAL(ntp_adjtime);
    return report_sync(real_ntp_adjtime(buf), buf);
}
