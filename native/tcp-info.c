// TCP_INFO of one socket. The C library's <netinet/tcp.h> (and <linux/tcp.h> of older distributions)
// predates the fields Linux 6.7 added, so the layout is spelled here from the kernel's
// include/uapi/linux/tcp.h, and a field is trusted only when the length getsockopt returns covers
// it: a kernel that does not know a field copies less, and the field is then unknown, not 0.
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>

#include "addon.h"
#include "tcp-info.h"

#ifndef TCP_INFO
#define TCP_INFO 11
#endif

// struct tcp_info as Linux 6.7 – 6.18 define it (uapi/linux/tcp.h), up to tcpi_total_rto_time;
// later kernels append fields, and getsockopt copies no more than we ask for.
struct kernel_tcp_info {
  uint8_t tcpi_state, tcpi_ca_state, tcpi_retransmits, tcpi_probes, tcpi_backoff, tcpi_options;
  uint8_t tcpi_wscale, tcpi_app_limited_and_fastopen;
  uint32_t tcpi_rto, tcpi_ato, tcpi_snd_mss, tcpi_rcv_mss;
  uint32_t tcpi_unacked, tcpi_sacked, tcpi_lost, tcpi_retrans, tcpi_fackets;
  uint32_t tcpi_last_data_sent, tcpi_last_ack_sent, tcpi_last_data_recv, tcpi_last_ack_recv;
  uint32_t tcpi_pmtu, tcpi_rcv_ssthresh, tcpi_rtt, tcpi_rttvar, tcpi_snd_ssthresh, tcpi_snd_cwnd, tcpi_advmss, tcpi_reordering;
  uint32_t tcpi_rcv_rtt, tcpi_rcv_space;
  uint32_t tcpi_total_retrans;
  uint64_t tcpi_pacing_rate, tcpi_max_pacing_rate, tcpi_bytes_acked, tcpi_bytes_received;
  uint32_t tcpi_segs_out, tcpi_segs_in;
  uint32_t tcpi_notsent_bytes, tcpi_min_rtt, tcpi_data_segs_in, tcpi_data_segs_out;
  uint64_t tcpi_delivery_rate;
  uint64_t tcpi_busy_time, tcpi_rwnd_limited, tcpi_sndbuf_limited;
  uint32_t tcpi_delivered, tcpi_delivered_ce;
  uint64_t tcpi_bytes_sent, tcpi_bytes_retrans;
  uint32_t tcpi_dsack_dups, tcpi_reord_seen;
  uint32_t tcpi_rcv_ooopack;
  uint32_t tcpi_snd_wnd, tcpi_rcv_wnd;
  uint32_t tcpi_rehash;
  uint16_t tcpi_total_rto, tcpi_total_rto_recoveries;
  uint32_t tcpi_total_rto_time;
};

// The offsets the kernel's layout has (checked at build time, so a typo above cannot shift a field).
_Static_assert(offsetof(struct kernel_tcp_info, tcpi_total_retrans) == 100, "tcpi_total_retrans offset");
_Static_assert(offsetof(struct kernel_tcp_info, tcpi_segs_in) == 140, "tcpi_segs_in offset");
_Static_assert(offsetof(struct kernel_tcp_info, tcpi_total_rto) == 240, "tcpi_total_rto offset");
_Static_assert(sizeof(struct kernel_tcp_info) == 248, "struct tcp_info through tcpi_total_rto_time");

#define COVERS(length, field) ((size_t)(length) >= offsetof(struct kernel_tcp_info, field) + sizeof(((struct kernel_tcp_info *)0)->field))

int tcp_info_read(int fd, TcpInfoCounts *out) {
  struct kernel_tcp_info raw;
  memset(&raw, 0, sizeof raw);
  socklen_t length = sizeof raw;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &raw, &length) != 0) return errno;
  out->length = length;
  out->state = COVERS(length, tcpi_state) ? raw.tcpi_state : -1;
  out->total_retrans = COVERS(length, tcpi_total_retrans) ? raw.tcpi_total_retrans : -1;
  out->last_ack_recv_ms = COVERS(length, tcpi_last_ack_recv) ? raw.tcpi_last_ack_recv : -1;
  out->segs_out = COVERS(length, tcpi_segs_out) ? raw.tcpi_segs_out : -1;
  out->segs_in = COVERS(length, tcpi_segs_in) ? raw.tcpi_segs_in : -1;
  out->total_rto = COVERS(length, tcpi_total_rto) ? raw.tcpi_total_rto : -1;
  out->total_rto_recoveries = COVERS(length, tcpi_total_rto_recoveries) ? raw.tcpi_total_rto_recoveries : -1;
  out->total_rto_time_ms = COVERS(length, tcpi_total_rto_time) ? raw.tcpi_total_rto_time : -1;
  return 0;
}

int tcp_info_syn_retransmits(int fd) {
  // Only as far as tcpi_total_retrans: the kernel copies min(asked, its size), so asking for less
  // costs less copying per connect.
  struct kernel_tcp_info raw;
  socklen_t length = offsetof(struct kernel_tcp_info, tcpi_total_retrans) + sizeof raw.tcpi_total_retrans;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &raw, &length) != 0 || !COVERS(length, tcpi_total_retrans)) return -1;
  return (int)raw.tcpi_total_retrans;
}

static int set_count(napi_env env, napi_value object, const char *name, int64_t value) {
  napi_value number;
  if (value < 0) {
    if (napi_get_null(env, &number) != napi_ok) return 0;
  } else if (napi_create_double(env, (double)value, &number) != napi_ok) {
    return 0;
  }
  return napi_set_named_property(env, object, name, number) == napi_ok;
}

// The one argument, a descriptor; -1 with a JavaScript error pending otherwise.
static int fd_argument(napi_env env, napi_callback_info info, const char *what) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd = -1;
  napi_valuetype type;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || napi_typeof(env, argv[0], &type) != napi_ok || type != napi_number ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, NATIVE_ERROR_CODE, what);
    return -1;
  }
  return fd;
}

napi_value syn_retransmits_napi(napi_env env, napi_callback_info info) {
  int fd = fd_argument(env, info, "connstorm native: synRetransmits(fd) needs a descriptor");
  if (fd < 0) return NULL;
  int retransmits = tcp_info_syn_retransmits(fd);
  napi_value result;
  if (retransmits < 0) CHECK(napi_get_null(env, &result));
  else CHECK(napi_create_int32(env, retransmits, &result));
  return result;
}

napi_value tcp_info_napi(napi_env env, napi_callback_info info) {
  int fd = fd_argument(env, info, "connstorm native: tcpInfo(fd) needs a descriptor");
  if (fd < 0) return NULL;
  TcpInfoCounts counts;
  int error = tcp_info_read(fd, &counts);
  napi_value result;
  // An fd that is no TCP socket (or closed): null, the caller then has no count for it.
  if (error != 0) {
    CHECK(napi_get_null(env, &result));
    return result;
  }
  CHECK(napi_create_object(env, &result));
  if (!set_count(env, result, "totalRetrans", counts.total_retrans) || !set_count(env, result, "totalRto", counts.total_rto) ||
      !set_count(env, result, "totalRtoRecoveries", counts.total_rto_recoveries) || !set_count(env, result, "totalRtoTimeMs", counts.total_rto_time_ms) ||
      !set_count(env, result, "segsOut", counts.segs_out) || !set_count(env, result, "segsIn", counts.segs_in) || !set_count(env, result, "state", counts.state) ||
      !set_count(env, result, "lastAckRecvMs", counts.last_ack_recv_ms) ||
      !set_count(env, result, "length", counts.length)) {
    napi_throw_error(env, NATIVE_ERROR_CODE, "connstorm native: tcpInfo could not build its result");
    return NULL;
  }
  return result;
}
