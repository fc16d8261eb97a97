// connstorm's native addon: what its parts share (constants are exported to JavaScript by addon.c).
#ifndef CONNSTORM_ADDON_H
#define CONNSTORM_ADDON_H
#include <node_api.h>

// Bumped whenever what JavaScript hands over or reads back changes shape: a build/ older than
// the JavaScript is then not loaded (src/native/addon.ts) instead of being misread.
#define ADDON_ABI 5

#define SCHEDULE_RING (1 << 16)  // intended starts fed ahead: 3 s at 20 000/s
#define SCHEDULE_FIELDS 3        // per start: ms after the run's start, --source address index (−1: none), source port
#define RECORD_FIELDS 5          // outcome, start lag µs, µs from actual start, ms from run start, SYN retransmits (−1: unknown)

// Record outcomes (field 0): 0 connected, > 0 an errno, or one of these.
#define OUTCOME_TIMEOUT (-1)
#define OUTCOME_PENDING (-2)  // still connecting when the run was stopped: its start counts, no end

#define CLOSE_RST 0
#define CLOSE_FIN 1

// The `code` of every error the addon throws: JavaScript tells the addon's refusals from its own bugs by it.
#define NATIVE_ERROR_CODE "ERR_CONNSTORM_NATIVE"

#define CHECK(call)                                                     \
  do {                                                                  \
    if ((call) != napi_ok) {                                            \
      napi_throw_error(env, NATIVE_ERROR_CODE, "connstorm native: " #call " failed"); \
      return NULL;                                                      \
    }                                                                   \
  } while (0)

// connect-loop-napi.c (the loop itself: connect-loop.c)
napi_value connect_loop_create(napi_env env, napi_callback_info info);
napi_value connect_loop_feed(napi_env env, napi_callback_info info);
napi_value connect_loop_begin(napi_env env, napi_callback_info info);
napi_value connect_loop_drain(napi_env env, napi_callback_info info);
napi_value connect_loop_progress(napi_env env, napi_callback_info info);
napi_value connect_loop_stop(napi_env env, napi_callback_info info);
napi_value connect_loop_join(napi_env env, napi_callback_info info);

// listen-queues.c
napi_value listen_queues(napi_env env, napi_callback_info info);

// tcp-info.c (tcp-info.h): tcpInfo, synRetransmits

#endif
