// The accept queues of this network namespace's TCP listeners, as ss reads them: one netlink
// sock_diag dump asking for LISTEN sockets only, so the kernel never walks the connection table.
// Why: /proc/net/tcp costs ~2–3.5 ms of kernel time per read here even when stopped after the
// listeners (its iterator locks every listening-hash bucket), and the queue sampler reads it
// during a storm; a ms-long stall beside the connect loop is what makes starts late.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addon.h"
#include "listen-queues.h"

static int set_number(napi_env env, napi_value object, const char *name, double value) {
  napi_value number;
  return napi_create_double(env, value, &number) == napi_ok && napi_set_named_property(env, object, name, number) == napi_ok;
}

// Whether an IPv6 listener is IPV6_V6ONLY: the kernel attaches INET_DIAG_SKV6ONLY to every AF_INET6
// entry. A listener on :: without it also accepts IPv4 (ss prints that one as '*').
static int is_v6only(const struct nlmsghdr *header, const struct inet_diag_msg *socket_info) {
  int length = (int)header->nlmsg_len - (int)NLMSG_LENGTH(sizeof *socket_info);
  for (const struct rtattr *attribute = (const struct rtattr *)(socket_info + 1); RTA_OK(attribute, length); attribute = RTA_NEXT(attribute, length)) {
    if (attribute->rta_type == INET_DIAG_SKV6ONLY && RTA_PAYLOAD(attribute) >= 1) return *(const unsigned char *)RTA_DATA(attribute) != 0;
  }
  return 0;
}

// The listener's sk_drops: every packet the kernel dropped for this socket (SYNs at a full accept
// queue, handshake ACKs that found it full; docs/kernel.md §14). The kernel attaches
// INET_DIAG_SKMEMINFO only when the request's idiag_ext asks for it; -1 when it is absent (older kernels
// return a shorter array without SK_MEMINFO_DROPS).
static double listener_drops(const struct nlmsghdr *header, const struct inet_diag_msg *socket_info) {
  int length = (int)header->nlmsg_len - (int)NLMSG_LENGTH(sizeof *socket_info);
  for (const struct rtattr *attribute = (const struct rtattr *)(socket_info + 1); RTA_OK(attribute, length); attribute = RTA_NEXT(attribute, length)) {
    if (attribute->rta_type == INET_DIAG_SKMEMINFO && RTA_PAYLOAD(attribute) >= (SK_MEMINFO_DROPS + 1) * sizeof(uint32_t)) {
      return ((const uint32_t *)RTA_DATA(attribute))[SK_MEMINFO_DROPS];
    }
  }
  return -1;
}

int diag_parse_listener(const struct nlmsghdr *header, struct diag_listener *out) {
  if (header->nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg))) return 0;
  const struct inet_diag_msg *socket_info = NLMSG_DATA(header);
  if (socket_info->idiag_family != AF_INET && socket_info->idiag_family != AF_INET6) return 0;
  out->family = socket_info->idiag_family;
  out->v6only = socket_info->idiag_family == AF_INET6 && is_v6only(header, socket_info);
  out->port = ntohs(socket_info->id.idiag_sport);
  // For a listener the kernel puts the accept queue's length in rqueue and its limit (the
  // effective backlog) in wqueue, the Recv-Q and Send-Q that ss prints.
  out->queue = socket_info->idiag_rqueue;
  out->backlog = socket_info->idiag_wqueue;
  double drops = listener_drops(header, socket_info);
  out->drops = drops >= 0 ? (int64_t)drops : -1;
  memset(out->address, 0, sizeof out->address);
  memcpy(out->address, socket_info->id.idiag_src, out->family == AF_INET ? 4 : 16);
  return 1;
}

static int set_number_or_null(napi_env env, napi_value object, const char *name, double value) {
  if (value >= 0) return set_number(env, object, name, value);
  napi_value null_value;
  return napi_get_null(env, &null_value) == napi_ok && napi_set_named_property(env, object, name, null_value) == napi_ok;
}

static int set_boolean(napi_env env, napi_value object, const char *name, int value) {
  napi_value boolean;
  return napi_get_boolean(env, value, &boolean) == napi_ok && napi_set_named_property(env, object, name, boolean) == napi_ok;
}

// One dump of the LISTEN sockets over `fd` (a NETLINK_SOCK_DIAG socket, kept open by the caller or
// not) into `list`, which grows as needed. family AF_INET or AF_INET6 asks SOCK_DIAG_BY_FAMILY for
// that family; AF_UNSPEC asks the older TCPDIAG_GETSOCK request, the only one that takes no family,
// so that both families come in one walk of the kernel's listening hash. port (host order) non-zero:
// the kernel itself skips the listeners of other ports (idiag_sport, checked on every listener of the
// walk; docs/kernel.md §18). 0 on success; -1 when the kernel refused, failed or said that the dump
// changed under it (NLM_F_DUMP_INTR): the rows read are then not to be trusted.
int diag_dump_listeners(int fd, uint32_t sequence, int family, uint16_t port, struct diag_listeners *list) {
  list->count = 0;
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  // the extension bits are 1 << (attribute - 1): ask for the socket's memory info, whose
  // SK_MEMINFO_DROPS is the listener's own drop count
  const uint8_t extensions = 1u << (INET_DIAG_SKMEMINFO - 1);
  ssize_t sent;
  if (family == AF_UNSPEC) {
    struct {
      struct nlmsghdr header;
      struct inet_diag_req request;
    } message = {
        .header = {.nlmsg_len = sizeof message, .nlmsg_type = TCPDIAG_GETSOCK, .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = sequence},
        .request = {.idiag_family = AF_UNSPEC, .idiag_ext = extensions, .idiag_states = 1u << TCP_LISTEN_STATE, .id = {.idiag_sport = htons(port)}},
    };
    sent = sendto(fd, &message, sizeof message, 0, (struct sockaddr *)&kernel, sizeof kernel);
  } else {
    struct {
      struct nlmsghdr header;
      struct inet_diag_req_v2 request;
    } message = {
        .header = {.nlmsg_len = sizeof message, .nlmsg_type = SOCK_DIAG_BY_FAMILY, .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = sequence},
        .request = {.sdiag_family = (uint8_t)family, .sdiag_protocol = IPPROTO_TCP, .idiag_ext = extensions, .idiag_states = 1u << TCP_LISTEN_STATE,
                    .id = {.idiag_sport = htons(port)}},
    };
    sent = sendto(fd, &message, sizeof message, 0, (struct sockaddr *)&kernel, sizeof kernel);
  }
  if (sent < 0) return -1;
  // One page: the kernel sizes a dump's messages by the largest buffer the socket was read with (at
  // least about a page), and a 32 KiB one made each dump allocate two 32 KiB messages — 42 against
  // 55 µs a dump at 100 Hz here. MSG_TRUNC makes recv say a longer message's whole length: it would
  // be a dump cut short, not to be trusted.
  static __thread char buffer[4096] __attribute__((aligned(8)));
  for (;;) {
    ssize_t received = recv(fd, buffer, sizeof buffer, MSG_TRUNC);
    if (received < 0 && errno == EINTR) continue;
    if (received <= 0 || (size_t)received > sizeof buffer) return -1;
    // Signed: NLMSG_NEXT takes it below zero after the last message, and NLMSG_OK must see that.
    int length = (int)received;
    for (struct nlmsghdr *header = (struct nlmsghdr *)buffer; NLMSG_OK(header, length); header = NLMSG_NEXT(header, length)) {
      // The answer to an earlier request of a kept socket, abandoned half-read: not this one's.
      if (header->nlmsg_seq != sequence) continue;
      if (header->nlmsg_type == NLMSG_DONE) return (header->nlmsg_flags & NLM_F_DUMP_INTR) ? -1 : 0;
      // An error, or a dump the kernel says changed under it: this read is not to be trusted.
      if (header->nlmsg_type == NLMSG_ERROR || (header->nlmsg_flags & NLM_F_DUMP_INTR)) return -1;
      struct diag_listener row;
      if ((header->nlmsg_type != SOCK_DIAG_BY_FAMILY && header->nlmsg_type != TCPDIAG_GETSOCK) || !diag_parse_listener(header, &row)) continue;
      if (family != AF_UNSPEC && row.family != family) continue;
      if (list->count == list->capacity) {
        size_t capacity = list->capacity == 0 ? 16 : list->capacity * 2;
        struct diag_listener *rows = realloc(list->rows, capacity * sizeof *rows);
        if (rows == NULL) return -1;
        list->rows = rows;
        list->capacity = capacity;
      }
      list->rows[list->count++] = row;
    }
  }
}

// listenQueues(family 4 | 6) → [{host, port, queueLength, backlog, v6only, drops}] (drops null when the
// kernel did not return it), or null when netlink sock_diag cannot be used here (then the caller
// reads /proc).
napi_value listen_queues(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result, null_value;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  CHECK(napi_get_null(env, &null_value));
  double family_number = 0;
  if (argc < 1 || napi_get_value_double(env, argv[0], &family_number) != napi_ok || (family_number != 4 && family_number != 6)) {
    napi_throw_type_error(env, NATIVE_ERROR_CODE, "connstorm native: listenQueues(4 | 6)");
    return NULL;
  }
  int family = family_number == 6 ? AF_INET6 : AF_INET;
  int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0) return null_value;
  static __thread struct diag_listeners list;
  int failed = diag_dump_listeners(fd, 1, family, 0, &list);
  close(fd);
  if (failed) return null_value;
  CHECK(napi_create_array(env, &result));
  for (size_t i = 0; i < list.count; i++) {
    const struct diag_listener *row = &list.rows[i];
    char host[INET6_ADDRSTRLEN];
    if (inet_ntop(family, row->address, host, sizeof host) == NULL) continue;
    napi_value listener, host_value;
    if (napi_create_object(env, &listener) != napi_ok || napi_create_string_utf8(env, host, NAPI_AUTO_LENGTH, &host_value) != napi_ok ||
        napi_set_named_property(env, listener, "host", host_value) != napi_ok || !set_number(env, listener, "port", row->port) ||
        !set_number(env, listener, "queueLength", row->queue) || !set_number(env, listener, "backlog", row->backlog) ||
        !set_boolean(env, listener, "v6only", row->v6only) || !set_number_or_null(env, listener, "drops", (double)row->drops) ||
        napi_set_element(env, result, (uint32_t)i, listener) != napi_ok) {
      napi_throw_error(env, NATIVE_ERROR_CODE, "connstorm native: listenQueues could not build its result");
      return NULL;
    }
  }
  return result;
}
