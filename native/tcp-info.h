// TCP_INFO of one socket, with the fields a kernel too old to fill them leaves unknown (-1), never 0.
// Why the engine reads it: the kernel's own count of a connect's SYN retransmits (docs/kernel.md).
#ifndef CONNSTORM_TCP_INFO_H
#define CONNSTORM_TCP_INFO_H
#include <node_api.h>
#include <stdint.h>

typedef struct {
  int64_t total_retrans;         // tcpi_total_retrans: SYN retransmits of a connect (-1: unknown)
  int64_t total_rto;             // tcpi_total_rto, Linux ≥ 6.7 (-1: older kernel)
  int64_t total_rto_recoveries;  // tcpi_total_rto_recoveries, Linux ≥ 6.7
  int64_t total_rto_time_ms;     // tcpi_total_rto_time, Linux ≥ 6.7
  int64_t segs_out, segs_in;     // Linux ≥ 4.2
  int64_t state;                 // tcpi_state (TCP_SYN_SENT = 2, TCP_ESTABLISHED = 1 …)
  int64_t last_ack_recv_ms;      // tcpi_last_ack_recv: ms since the last ACK came; right after accept(), the accept-queue wait
  int64_t length;                // bytes the kernel returned
} TcpInfoCounts;

// 0 and `out` filled, or an errno (the socket is not TCP, or is closed).
int tcp_info_read(int fd, TcpInfoCounts *out);

// The SYN retransmits of a connect on fd (tcpi_total_retrans), or -1 when TCP_INFO cannot say.
// The connect loop calls it once per connect before close (docs/kernel.md).
int tcp_info_syn_retransmits(int fd);

// tcpInfo(fd) → {totalRetrans, totalRto, totalRtoRecoveries, totalRtoTimeMs, segsOut, segsIn, state, lastAckRecvMs, length}
napi_value tcp_info_napi(napi_env env, napi_callback_info info);
// synRetransmits(fd) → tcpi_total_retrans or null: the engine's per-connect call, no object made
napi_value syn_retransmits_napi(napi_env env, napi_callback_info info);

#endif
