// ctarget: the bench's native target — one thread, one epoll set, a listener on ADDR:PORT with
// backlog 4096 (capped by net.core.somaxconn). What it does with each accepted connection:
//   -m close  close() at once (FIN)                                           [default]
//   -m reply  write one byte ("x"), then close() (the first-byte probes' target)
//   -m hold   keep it open until the peer closes it, counting the open ones
//   -m http   read the request, answer "HTTP/1.1 204 No Content" (Connection: close), close
// It says "listening port=P pid=N" on stderr once it listens. SIGUSR1 prints "open=N accepted=M"
// on stderr (the held row checks connstorm's count against this one); SIGTERM/SIGINT print the
// same and end it. The bench runs it under `timeout`, on loopback only.
//
// usage: ctarget [-a ADDR] -p PORT [-m close|reply|hold|http]   (-p 0: any free port, printed)
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

enum { CLOSE, REPLY, HOLD, HTTP };

static const char RESPONSE[] = "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n";

static volatile sig_atomic_t stop_asked = 0, count_asked = 0;
static void on_stop(int signal) { (void)signal; stop_asked = 1; }
static void on_count(int signal) { (void)signal; count_asked = 1; }

int main(int argc, char **argv) {
    const char *addr = "127.0.0.1";
    int port = 0, mode = CLOSE;
    for (int opt; (opt = getopt(argc, argv, "a:p:m:")) != -1;) {
        switch (opt) {
        case 'a': addr = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'm':
            if (strcmp(optarg, "close") == 0) mode = CLOSE;
            else if (strcmp(optarg, "reply") == 0) mode = REPLY;
            else if (strcmp(optarg, "hold") == 0) mode = HOLD;
            else if (strcmp(optarg, "http") == 0) mode = HTTP;
            else { fprintf(stderr, "ctarget: -m close|reply|hold|http\n"); return 2; }
            break;
        default: fprintf(stderr, "usage: ctarget [-a ADDR] -p PORT [-m close|reply|hold|http]\n"); return 2;
        }
    }
    // A held connection is one descriptor: take every one the hard limit allows.
    struct rlimit files;
    if (getrlimit(RLIMIT_NOFILE, &files) == 0) {
        files.rlim_cur = files.rlim_max;
        setrlimit(RLIMIT_NOFILE, &files);
    }
    struct sigaction stop = {.sa_handler = on_stop}, count = {.sa_handler = on_count};
    sigaction(SIGTERM, &stop, NULL);
    sigaction(SIGINT, &stop, NULL);
    sigaction(SIGUSR1, &count, NULL);
    signal(SIGPIPE, SIG_IGN);

    int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int on = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    struct sockaddr_in at = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, addr, &at.sin_addr) != 1) { fprintf(stderr, "ctarget: not an IPv4 address: %s\n", addr); return 2; }
    if (bind(listener, (struct sockaddr *)&at, sizeof at) != 0 || listen(listener, 4096) != 0) {
        fprintf(stderr, "ctarget: cannot listen on %s:%d: %s\n", addr, port, strerror(errno));
        return 1;
    }
    int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event event = {.events = EPOLLIN, .data.fd = listener};
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listener, &event);
    socklen_t at_length = sizeof at;
    getsockname(listener, (struct sockaddr *)&at, &at_length);  // -p 0: the port the kernel picked
    fprintf(stderr, "listening port=%d pid=%d mode=%s\n", ntohs(at.sin_port), (int)getpid(), mode == CLOSE ? "close" : mode == REPLY ? "reply" : mode == HOLD ? "hold" : "http");

    long accepted = 0, open = 0;
    struct epoll_event events[256];
    char scratch[4096];
    while (!stop_asked) {
        if (count_asked) {
            count_asked = 0;
            fprintf(stderr, "open=%ld accepted=%ld\n", open, accepted);
        }
        int ready = epoll_wait(epoll_fd, events, 256, 100);
        for (int i = 0; i < ready; i++) {
            int fd = events[i].data.fd;
            if (fd != listener && mode == HTTP) {
                // The request has come (a request that fits one read: the bench's GET does): answer, close.
                ssize_t got = read(fd, scratch, sizeof scratch);
                if (got > 0 && write(fd, RESPONSE, sizeof RESPONSE - 1) < 0) { /* the peer is gone: nothing to say */ }
                if (got >= 0 || (errno != EAGAIN && errno != EINTR)) {
                    close(fd);
                    open--;
                }
                continue;
            }
            if (fd != listener) {
                // A held connection is readable: its peer closed it (or sent something, discarded).
                ssize_t got = read(fd, scratch, sizeof scratch);
                if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
                    close(fd);
                    open--;
                }
                continue;
            }
            for (;;) {
                int client = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (client < 0) break;  // EAGAIN: the queue is empty; EMFILE: the next event retries
                accepted++;
                if (mode == REPLY) {
                    if (write(client, "x", 1) < 0) { /* the peer is gone already: nothing to say */ }
                    close(client);
                } else if (mode == HOLD || mode == HTTP) {
                    struct epoll_event held = {.events = EPOLLIN | EPOLLRDHUP, .data.fd = client};
                    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, client, &held) == 0) open++;
                    else close(client);
                } else {
                    close(client);
                }
            }
        }
    }
    fprintf(stderr, "open=%ld accepted=%ld\n", open, accepted);
    return 0;
}
