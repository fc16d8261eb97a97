// What one sock_diag message says of a TCP listener: shared by listenQueues (listen-queues.c) and
// the watch's sampling thread (watch-sampler.c), so that both read the kernel's answer the same way.
#ifndef CONNSTORM_LISTEN_QUEUES_H
#define CONNSTORM_LISTEN_QUEUES_H
#include <linux/netlink.h>
#include <stddef.h>
#include <stdint.h>

#define TCP_LISTEN_STATE 10  // TCP_LISTEN in the kernel's enum

struct diag_listener {
  uint8_t family;  // AF_INET or AF_INET6
  uint8_t v6only;  // IPV6_V6ONLY (AF_INET6 only): a listener on :: without it also accepts IPv4
  uint16_t port;   // host byte order
  uint32_t queue;  // accept queue length (Recv-Q)
  uint32_t backlog;  // its limit, the effective backlog (Send-Q)
  int64_t drops;   // sk_drops; -1 when the kernel did not say
  uint8_t address[16];  // the bound address, network order (4 bytes used for AF_INET)
};

// A dump's listeners (diag_dump_listeners), in an array that grows as needed and is kept between dumps.
struct diag_listeners {
  struct diag_listener *rows;
  size_t count, capacity;
};

int diag_dump_listeners(int fd, uint32_t sequence, int family, uint16_t port, struct diag_listeners *list);

// Parses one SOCK_DIAG_BY_FAMILY (or TCPDIAG_GETSOCK) message into `out`: 1 when it is a listener of
// AF_INET or AF_INET6, 0 when the message is to be skipped.
int diag_parse_listener(const struct nlmsghdr *header, struct diag_listener *out);

#endif
