// cpaced: a native paced connect loop that reports its own start lag, so that the bench can put a
// native figure beside connstorm's late-start p99 (the baseline's cstorm paces the same way but
// prints no start lag). One thread, busy-polling: epoll_wait(…, 0) between starts. Each start is
// due at t0 + i / rate; every due start is launched at once (no batch cap: the fastest catch-up a
// client can have), its lag = now − due is recorded, and an established connect is closed with an
// RST (SO_LINGER {1, 0}) so no TIME_WAIT is left. Loopback only: the bench passes 127.0.0.1.
//
// usage: cpaced -a ADDR -p PORT -r RATE -n COUNT [-k MAX_IN_FLIGHT] [-w WARMUP] [-d MAX_SECS]
// prints one line: connects= errors= secs= rate= late= lag_p50_us= lag_p99_us= lag_max_us= p50_us= p99_us=
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
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

static double percentile(double *sorted, long n, double p) {
    if (n == 0) return 0;
    long i = (long)(p / 100.0 * (n - 1) + 0.5);
    return sorted[i];
}

struct attempt {
    int fd;
    double started_us;
};

int main(int argc, char **argv) {
    const char *addr = "127.0.0.1";
    int port = 0, k = 1000;
    double rate = 0, max_secs = 60;
    long count = 0, warmup = 1000;
    for (int opt; (opt = getopt(argc, argv, "a:p:r:n:k:w:d:")) != -1;) {
        switch (opt) {
        case 'a': addr = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'r': rate = atof(optarg); break;
        case 'n': count = atol(optarg); break;
        case 'k': k = atoi(optarg); break;
        case 'w': warmup = atol(optarg); break;
        case 'd': max_secs = atof(optarg); break;
        default: fprintf(stderr, "usage: cpaced -a ADDR -p PORT -r RATE -n COUNT [-k K] [-w WARMUP] [-d SECS]\n"); return 2;
        }
    }
    if (port <= 0 || rate <= 0 || count <= warmup || k <= 0) {
        fprintf(stderr, "cpaced: -p, -r, -n (> -w) and -k must be positive\n");
        return 2;
    }
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (inet_pton(AF_INET, addr, &to.sin_addr) != 1) {
        fprintf(stderr, "cpaced: bad address %s\n", addr);
        return 2;
    }
    int ep = epoll_create1(0);
    // Indexed by fd: a connect's start time and whether it is in flight.
    struct attempt *by_fd = calloc(1 << 20, sizeof *by_fd);
    double *lags = malloc(count * sizeof *lags), *latencies = malloc(count * sizeof *latencies);
    if (ep < 0 || !by_fd || !lags || !latencies) return 1;
    long started = 0, finished = 0, connected = 0, errors = 0, measured_lags = 0, measured_latencies = 0;
    int in_flight = 0;
    struct epoll_event events[256];
    struct linger rst = {1, 0};
    const double t0 = now_us(), interval_us = 1e6 / rate, deadline = t0 + max_secs * 1e6;
    double measured_from = t0;
    while (finished < count) {
        double now = now_us();
        if (now > deadline) break;
        while (started < count && in_flight < k && t0 + started * interval_us <= now) {
            double due = t0 + started * interval_us;
            if (started == warmup) measured_from = due;
            if (started >= warmup) lags[measured_lags++] = now - due;
            int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            started++;
            if (fd < 0 || fd >= (1 << 20)) {
                errors++, finished++;
                if (fd >= 0) close(fd);
                continue;
            }
            by_fd[fd].started_us = now;
            if (connect(fd, (struct sockaddr *)&to, sizeof to) < 0 && errno != EINPROGRESS) {
                errors++, finished++;
                close(fd);
                continue;
            }
            struct epoll_event ev = {.events = EPOLLOUT, .data.fd = fd};
            epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
            in_flight++;
            now = now_us();
        }
        int n = epoll_wait(ep, events, 256, 0);
        double done_at = now_us();
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd, error = 0;
            socklen_t length = sizeof error;
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
            if (error == 0) {
                connected++;
                if (finished >= warmup) latencies[measured_latencies++] = done_at - by_fd[fd].started_us;
                setsockopt(fd, SOL_SOCKET, SO_LINGER, &rst, sizeof rst);
            } else {
                errors++;
            }
            close(fd); // also leaves the epoll set
            in_flight--;
            finished++;
        }
    }
    double secs = (now_us() - measured_from) / 1e6;
    long late = 0;
    for (long i = 0; i < measured_lags; i++) late += lags[i] > 1000;
    qsort(lags, measured_lags, sizeof *lags, by_value);
    qsort(latencies, measured_latencies, sizeof *latencies, by_value);
    printf("connects=%ld errors=%ld secs=%.3f rate=%.0f late=%ld lag_p50_us=%.1f lag_p99_us=%.1f lag_max_us=%.1f p50_us=%.1f p99_us=%.1f\n",
           connected, errors, secs, secs > 0 ? (started - warmup) / secs : 0, late, percentile(lags, measured_lags, 50),
           percentile(lags, measured_lags, 99), measured_lags ? lags[measured_lags - 1] : 0, percentile(latencies, measured_latencies, 50),
           percentile(latencies, measured_latencies, 99));
    return 0;
}
