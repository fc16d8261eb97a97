// connstorm's native addon: what its parts share (constants are exported to JavaScript by addon.c).
#ifndef CONNSTORM_ADDON_H
#define CONNSTORM_ADDON_H
#include <node_api.h>

// Bumped whenever what JavaScript hands over or reads back changes shape: a build/ older than
// the JavaScript is then not loaded (src/native/addon.ts) instead of being misread.
#define ADDON_ABI 10

#define SCHEDULE_RING (1 << 16)  // intended starts fed ahead: 3 s at 20 000/s
#define SCHEDULE_FIELDS 3        // per start: ms after the run's start, --source address index (−1: none), source port
// outcome, start lag µs, µs from actual start, ms from run start, SYN retransmits (−1: unknown),
// then the probe's: its outcome (PROBE_*), µs from connect to the first byte (−1: none came), its errno (0: none)
#define RECORD_FIELDS 8
#define PROGRESS_FIELDS 7  // launched, in flight, last start ms, finished, undrained records, loop errno, held open

// Record outcomes (field 0): 0 connected, > 0 an errno, or one of these.
#define OUTCOME_TIMEOUT (-1)
#define OUTCOME_PENDING (-2)  // still connecting when the run was stopped: its start counts, no end

// Probe outcomes (record field 5): the index in src/results/outcome.ts PROBE_OUTCOMES, or one of the
// negative ones. tlsError (4) never comes from the loop: TLS stays on node:tls (src/probe/run.ts).
#define PROBE_NONE (-1)     // no probe ran on this connect (none asked, or it did not connect)
#define PROBE_PENDING (-2)  // still waiting for its reply when the run was stopped
#define PROBE_OK 0
#define PROBE_TIMEOUT 1
#define PROBE_RESET 2
#define PROBE_CLOSED_BEFORE_REPLY 3
#define PROBE_UNEXPECTED_REPLY 5
#define PROBE_ERROR 6

// Tallies (take()): what the loop records itself for each connect that connected with no probe and
// no retransmit — the bulk of a storm — instead of handing it over as a record. Kinds:
#define TALLY_START_LAG 0      // max(1, round(start lag µs)), by HDR bucket (below)
#define TALLY_FROM_INTENDED 1  // the same of the latency from the intended start
#define TALLY_FROM_ACTUAL 2    // the same of the latency from the actual start
#define TALLY_TIMELINE 3       // by whole ms from the run's start at which it connected
#define TALLY_LATE_STARTS 4    // one count: starts more than 1000 µs late (src/results/recorder.ts)
// A probe that ended ok, on a connect tallied as above (src/probe/recorder.ts's histograms):
#define TALLY_FIRST_BYTE 5              // first byte from the intended start
#define TALLY_RESPONSE_AFTER_CONNECT 6  // first byte after the connect (one per ok probe)
#define TALLY_ACCEPT_WAIT 7             // the same, for those ≥ 200 ms (src/probe/recorder.ts ACCEPT_WAIT_THRESHOLD_US)
// A connect that connected after k SYN retransmits (1 ≤ k ≤ TALLY_MAX_RETRANSMITS; the kernel
// counted them, docs/kernel.md §15): its latency from the actual start goes to kind
// TALLY_RETRANSMITTED + k − 1 instead of TALLY_FROM_ACTUAL (the rest as for any tallied connect) —
// the bulk of a storm against a full queue. More retransmits than that: a record.
#define TALLY_RETRANSMITTED 8
#define TALLY_MAX_RETRANSMITS 15
#define TALLY_TIMELINE_FAILED (TALLY_RETRANSMITTED + TALLY_MAX_RETRANSMITS)  // by whole ms, connects that failed
#define TALLY_KINDS (TALLY_TIMELINE_FAILED + 1)
// A connect that failed (an errno other than ECONNRESET, or the run's --timeout) with k SYN
// retransmits (−1: not counted; at most TALLY_MAX_RETRANSMITS): its latency from the actual start
// in a tally of its (errno, k), handed over under the kind TALLY_FAILED_BASE + (errno + 1) × 32 +
// (k + 1), errno −1 for a timeout (OUTCOME_TIMEOUT). At most TALLY_FAILURE_CLASSES pairs a run;
// another one goes as a record.
#define TALLY_FAILED_BASE 1000
#define TALLY_FAILURE_CLASSES 16
#define TALLY_FIELDS 3         // per entry taken: kind, value (a latency in µs; ms for the timeline; 0 for late starts), count
// Latencies are counted by the HDR bucket of src/results/histogram.ts's histograms (lowest 1, 3
// significant digits: 2048 sub-buckets, unit magnitude 0) and handed over as (a value of that
// bucket, count): recorded with its count in JavaScript it lands in the same bucket, so the
// histograms come out as if every value had been recorded (connect-loop.c take_tally).
#define TALLY_SUB_BUCKET_HALF_COUNT_MAGNITUDE 10
#define TALLY_HDR_LENGTH (32 * 1024)  // indexes of values below 2^41 µs; a larger one is sent as a record

#define CLOSE_RST 0
#define CLOSE_FIN 1
#define CLOSE_HOLD 2  // kept open in the loop until the run is stopped (or the peer closes it)

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
napi_value connect_loop_take(napi_env env, napi_callback_info info);
napi_value connect_loop_tally_latencies(napi_env env, napi_callback_info info);

// listen-queues.c
napi_value listen_queues(napi_env env, napi_callback_info info);

// tcp-info.c (tcp-info.h): tcpInfo, synRetransmits

// watch-sampler.c (watch-sampler.h): watchStart, watchDrain, watchStop

// The pointer inside an external this addon made with `tag` (napi_type_tag_object); NULL, with a
// TypeError "connstorm native: not a <what>" pending, for anything else (addon.c).
void *tagged_external(napi_env env, napi_value value, const napi_type_tag *tag, const char *what);

// Reads object[name] as a number into *out; false (nothing thrown) when it is missing or not one (addon.c).
int number_property(napi_env env, napi_value object, const char *name, double *out);

#endif
