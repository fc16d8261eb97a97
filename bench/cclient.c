// cclient: the bench's native client — what connstorm is measured against, in the same run. One
// thread, one epoll set, non-blocking connects with K in flight:
//   -m connect  connect, then close with an RST (SO_LINGER {1, 0}: no TIME_WAIT)      [default]
//   -m read     connect, wait for the first byte, read it, then close with an RST: the work of
//               connstorm's `--probe banner` against `ctarget -m reply`
//   -s TEXT     with -m read: write TEXT (\r and \n as escapes) once connected, before waiting:
//               `--probe send:TEXT`, or a bare HTTP request against `ctarget -m http`
// Closed loop (a new connect as soon as one ends) unless -r RATE paces the starts (t0 + i / RATE,
// K still caps what is in flight). The first W connects (-w, default 1000) warm up and are not
// counted in rate or latency.
// Connect latency is from just before socket() to the event that says the connect completed;
// first-byte latency from the same instant to the event that says a byte arrived.
//
// usage: cclient [-a ADDR] -p PORT [-m connect|read] [-s TEXT] [-n COUNT] [-k K] [-r RATE] [-w WARMUP] [-d MAX_SECS]
// prints one line: connects= errors= secs= rate= p50_us= p99_us= fb_p50_us= fb_p99_us= cpu_user= cpu_sys=
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double percentile(double *values, long n, double p) {
    if (n == 0) return 0;
    qsort(values, (size_t)n, sizeof *values, by_value);
    return values[(long)(p / 100.0 * (double)(n - 1) + 0.5)];
}

typedef struct {
    int fd;  // -1: free
    int connected;
    double started_us;
} Slot;

int main(int argc, char **argv) {
    const char *addr = "127.0.0.1";
    int port = 0, k = 64, read_mode = 0;
    long count = 200000, warmup = 1000;
    double rate = 0, max_secs = 60;
    char payload[1024];
    size_t payload_length = 0;
    for (int opt; (opt = getopt(argc, argv, "a:p:m:s:n:k:r:w:d:")) != -1;) {
        switch (opt) {
        case 's':
            for (const char *c = optarg; *c && payload_length < sizeof payload; c++) {
                if (c[0] == '\\' && (c[1] == 'r' || c[1] == 'n')) payload[payload_length++] = *++c == 'r' ? '\r' : '\n';
                else payload[payload_length++] = *c;
            }
            break;
        case 'a': addr = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'm': read_mode = strcmp(optarg, "read") == 0; break;
        case 'n': count = atol(optarg); break;
        case 'k': k = atoi(optarg); break;
        case 'r': rate = atof(optarg); break;
        case 'w': warmup = atol(optarg); break;
        case 'd': max_secs = atof(optarg); break;
        default:
            fprintf(stderr, "usage: cclient [-a ADDR] -p PORT [-m connect|read] [-s TEXT] [-n COUNT] [-k K] [-r RATE] [-w WARMUP] [-d MAX_SECS]\n");
            return 2;
        }
    }
    if (port <= 0 || k < 1 || count < 1) { fprintf(stderr, "cclient: -p PORT, -k ≥ 1 and -n ≥ 1 are needed\n"); return 2; }
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, addr, &to.sin_addr) != 1) { fprintf(stderr, "cclient: not an IPv4 address: %s\n", addr); return 2; }

    long total = count + warmup;
    Slot *slots = calloc((size_t)k, sizeof *slots);
    int *free_slots = malloc((size_t)k * sizeof *free_slots);
    double *connect_us = malloc((size_t)count * sizeof *connect_us), *first_byte_us = malloc((size_t)count * sizeof *first_byte_us);
    if (!slots || !free_slots || !connect_us || !first_byte_us) { fprintf(stderr, "cclient: out of memory\n"); return 1; }
    int free_count = k;
    for (int i = 0; i < k; i++) { slots[i].fd = -1; free_slots[i] = k - 1 - i; }
    int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event events[256];
    struct linger rst = {1, 0};
    char scratch[256];

    long launched = 0, ended = 0, connects = 0, errors = 0, connect_n = 0, first_byte_n = 0;
    double t0 = now_us(), measured_from = warmup == 0 ? t0 : -1, last_end = t0;
    struct rusage usage_from;
    if (warmup == 0) getrusage(RUSAGE_SELF, &usage_from);
    while (ended < total && now_us() - t0 < max_secs * 1e6) {
        double now = now_us();
        while (launched < total && free_count > 0 && (rate <= 0 || t0 + (double)launched * 1e6 / rate <= now)) {
            int index = free_slots[--free_count];
            Slot *slot = &slots[index];
            slot->started_us = now_us();
            slot->connected = 0;
            slot->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            launched++;
            if (slot->fd < 0 || (connect(slot->fd, (struct sockaddr *)&to, sizeof to) != 0 && errno != EINPROGRESS)) {
                if (slot->fd >= 0) close(slot->fd);
                slot->fd = -1;
                free_slots[free_count++] = index;
                ended++;
                if (launched > warmup) errors++;
                continue;
            }
            struct epoll_event event = {.events = EPOLLOUT, .data.u32 = (uint32_t)index};
            epoll_ctl(epoll_fd, EPOLL_CTL_ADD, slot->fd, &event);
        }
        // Paced: busy-poll (no timeout) so the next start is on time; closed: wait for completions.
        int ready = epoll_wait(epoll_fd, events, 256, rate > 0 ? 0 : 100);
        double done = now_us();
        for (int i = 0; i < ready; i++) {
            int index = (int)events[i].data.u32;
            Slot *slot = &slots[index];
            int error = 0, finished = 1;
            socklen_t length = sizeof error;
            if (!slot->connected) {
                getsockopt(slot->fd, SOL_SOCKET, SO_ERROR, &error, &length);
                if (error == 0) {
                    if (ended >= warmup && connect_n < count) connect_us[connect_n++] = done - slot->started_us;
                    if (read_mode) {
                        if (payload_length > 0 && write(slot->fd, payload, payload_length) < 0) { /* the read below sees why */ }
                        slot->connected = 1;
                        finished = 0;
                        struct epoll_event event = {.events = EPOLLIN, .data.u32 = (uint32_t)index};
                        epoll_ctl(epoll_fd, EPOLL_CTL_MOD, slot->fd, &event);
                    }
                }
            } else {
                ssize_t got = read(slot->fd, scratch, sizeof scratch);
                if (got > 0) {
                    if (ended >= warmup && first_byte_n < count) first_byte_us[first_byte_n++] = done - slot->started_us;
                } else {
                    error = got == 0 ? ECONNRESET : errno;
                }
            }
            if (!finished) continue;
            if (error == 0) setsockopt(slot->fd, SOL_SOCKET, SO_LINGER, &rst, sizeof rst);
            close(slot->fd);
            slot->fd = -1;
            free_slots[free_count++] = index;
            ended++;
            if (ended == warmup) {
                measured_from = done;
                getrusage(RUSAGE_SELF, &usage_from);
            } else if (ended > warmup) {
                if (error == 0) connects++;
                else errors++;
            }
            last_end = done;
        }
    }
    struct rusage usage_to;
    getrusage(RUSAGE_SELF, &usage_to);
    double secs = measured_from < 0 ? 0 : (last_end - measured_from) / 1e6;
    double cpu_user = (usage_to.ru_utime.tv_sec - usage_from.ru_utime.tv_sec) + (usage_to.ru_utime.tv_usec - usage_from.ru_utime.tv_usec) / 1e6;
    double cpu_sys = (usage_to.ru_stime.tv_sec - usage_from.ru_stime.tv_sec) + (usage_to.ru_stime.tv_usec - usage_from.ru_stime.tv_usec) / 1e6;
    printf("connects=%ld errors=%ld secs=%.3f rate=%.0f p50_us=%.0f p99_us=%.0f fb_p50_us=%.0f fb_p99_us=%.0f cpu_user=%.3f cpu_sys=%.3f\n", connects, errors, secs,
           secs > 0 ? connects / secs : 0, percentile(connect_us, connect_n, 50), percentile(connect_us, connect_n, 99), percentile(first_byte_us, first_byte_n, 50),
           percentile(first_byte_us, first_byte_n, 99), cpu_user, cpu_sys);
    return 0;
}
