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
#include <unistd.h>

#include "addon.h"

#define TCP_LISTEN_STATE 10  // TCP_LISTEN in the kernel's enum

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

static int set_number_or_null(napi_env env, napi_value object, const char *name, double value) {
  if (value >= 0) return set_number(env, object, name, value);
  napi_value null_value;
  return napi_get_null(env, &null_value) == napi_ok && napi_set_named_property(env, object, name, null_value) == napi_ok;
}

static int set_boolean(napi_env env, napi_value object, const char *name, int value) {
  napi_value boolean;
  return napi_get_boolean(env, value, &boolean) == napi_ok && napi_set_named_property(env, object, name, boolean) == napi_ok;
}

// listenQueues(family 4 | 6) → [{host, port, queueLength, backlog, v6only, drops}] (drops null when the
// kernel did not return it), or null when netlink
// sock_diag cannot be used here (then the caller reads /proc).
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
  CHECK(napi_create_array(env, &result));
  int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0) return null_value;
  struct {
    struct nlmsghdr header;
    struct inet_diag_req_v2 request;
  } message = {
      .header = {.nlmsg_len = sizeof message, .nlmsg_type = SOCK_DIAG_BY_FAMILY, .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP},
      .request = {.sdiag_family = (unsigned char)family, .sdiag_protocol = IPPROTO_TCP, .idiag_states = 1u << TCP_LISTEN_STATE,
                  // the extension bits are 1 << (attribute - 1): ask for the socket's memory info, whose
                  // SK_MEMINFO_DROPS is the listener's own drop count
                  .idiag_ext = 1u << (INET_DIAG_SKMEMINFO - 1)},
  };
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  if (sendto(fd, &message, sizeof message, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) {
    close(fd);
    return null_value;
  }
  uint32_t count = 0;
  static __thread char buffer[32768] __attribute__((aligned(8)));
  for (int done = 0; !done;) {
    ssize_t received = recv(fd, buffer, sizeof buffer, 0);
    if (received < 0 && errno == EINTR) continue;
    if (received <= 0) {
      close(fd);
      return null_value;
    }
    // Signed: NLMSG_NEXT takes it below zero after the last message, and NLMSG_OK must see that.
    int length = (int)received;
    for (struct nlmsghdr *header = (struct nlmsghdr *)buffer; NLMSG_OK(header, length); header = NLMSG_NEXT(header, length)) {
      if (header->nlmsg_type == NLMSG_DONE) {
        done = 1;
        break;
      }
      // An error, or a dump the kernel says changed under it: this read is not to be trusted.
      if (header->nlmsg_type == NLMSG_ERROR || (header->nlmsg_flags & NLM_F_DUMP_INTR)) {
        close(fd);
        return null_value;
      }
      if (header->nlmsg_type != SOCK_DIAG_BY_FAMILY || header->nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg))) continue;
      const struct inet_diag_msg *socket_info = NLMSG_DATA(header);
      char host[INET6_ADDRSTRLEN];
      if (socket_info->idiag_family != family || inet_ntop(family, socket_info->id.idiag_src, host, sizeof host) == NULL) continue;
      napi_value listener, host_value;
      // For a listener the kernel puts the accept queue's length in rqueue and its limit (the
      // effective backlog) in wqueue, the Recv-Q and Send-Q that ss prints.
      if (napi_create_object(env, &listener) != napi_ok || napi_create_string_utf8(env, host, NAPI_AUTO_LENGTH, &host_value) != napi_ok ||
          napi_set_named_property(env, listener, "host", host_value) != napi_ok ||
          !set_number(env, listener, "port", ntohs(socket_info->id.idiag_sport)) ||
          !set_number(env, listener, "queueLength", socket_info->idiag_rqueue) ||
          !set_number(env, listener, "backlog", socket_info->idiag_wqueue) || !set_boolean(env, listener, "v6only", family == AF_INET6 && is_v6only(header, socket_info)) ||
          !set_number_or_null(env, listener, "drops", listener_drops(header, socket_info)) ||
          napi_set_element(env, result, count++, listener) != napi_ok) {
        close(fd);
        napi_throw_error(env, NATIVE_ERROR_CODE, "connstorm native: listenQueues could not build its result");
        return NULL;
      }
    }
  }
  close(fd);
  return result;
}
